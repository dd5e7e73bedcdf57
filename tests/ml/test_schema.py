import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.features.schema import MISSING_INDEX, RARE_INDEX, ColumnSpec, TablePreprocessor, TableSchema


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "amount": np.where(rng.random(n) < 0.1, np.nan, rng.lognormal(10, 1.5, n)),
            "count": rng.poisson(2, n).astype(float),
            "source": rng.choice(["Web", "Referral", "Event"], n).astype(object),
            "title": [f"title {i % 40}" for i in range(n)],  # 5 each: at the min frequency
            "seen": [datetime(2025, 1, 1, tzinfo=UTC) - timedelta(days=int(d)) for d in rng.integers(0, 100, n)],
            "as_of": [datetime(2025, 1, 1, tzinfo=UTC)] * n,
        }
    )


SCHEMA = TableSchema(
    columns=(
        ColumnSpec("amount", "numeric", "Amount", "money"),
        ColumnSpec("count", "numeric", "Count", "money"),
        ColumnSpec("source", "categorical", "Source"),
        ColumnSpec("title", "categorical", "Title"),
        ColumnSpec("seen", "datetime", "Last seen"),
        ColumnSpec("notes", "text", "Notes"),
    ),
    reference_column="as_of",
)


def test_round_trip_through_json_gives_identical_encodings():
    frame = _frame()
    fitted = TablePreprocessor(schema=SCHEMA, min_frequency=5).fit(frame)
    restored = TablePreprocessor.from_dict(json.loads(json.dumps(fitted.to_dict())))
    original, again = fitted.transform(frame), restored.transform(frame)
    np.testing.assert_array_equal(original.numeric, again.numeric)
    np.testing.assert_array_equal(original.categorical, again.categorical)
    assert restored.to_dict() == fitted.to_dict()
    assert restored.numeric_groups == fitted.numeric_groups == [0, 0, 1]


def test_numbers_are_robust_scaled_and_missing_becomes_nan_only_where_training_had_missing():
    frame = _frame()
    preprocessor = TablePreprocessor(schema=SCHEMA).fit(frame)
    encoded = preprocessor.transform(frame)
    amount, count = encoded.numeric[:, 0], encoded.numeric[:, 1]
    assert np.isnan(amount).sum() == frame["amount"].isna().sum()
    assert preprocessor.numeric[0].log  # heavy-tailed money is log-scaled
    assert abs(np.nanmedian(amount)) < 0.05 and abs(np.median(count)) < 0.05
    assert np.nanmax(np.abs(amount)) <= preprocessor.clip
    unseen_missing = pd.DataFrame({"count": [np.nan], "amount": [np.nan]})
    row = preprocessor.transform(unseen_missing).numeric[0]
    assert np.isnan(row[0])  # "amount" had missing values in training: keeps its missing token
    assert row[1] == 0.0  # "count" never did: imputed with its median instead of an untrained token


def test_unseen_and_infrequent_categories_are_rare_and_blanks_are_missing():
    frame = _frame()
    frame.loc[:3, "title"] = ["only once", "only once", "twice", "twice"]
    preprocessor = TablePreprocessor(schema=SCHEMA, min_frequency=5).fit(frame)
    title = preprocessor.categorical[1]
    assert "only once" not in title.vocabulary and "title 10" in title.vocabulary
    new = pd.DataFrame({"source": ["Web", "Partner", None, "  ", np.nan], "title": ["title 10"] * 5})
    codes = preprocessor.transform(new).categorical
    assert codes[0, 0] >= 2 and preprocessor.categorical[0].value_of(int(codes[0, 0])) == "Web"
    assert codes[1, 0] == RARE_INDEX
    assert list(codes[2:, 0]) == [MISSING_INDEX] * 3


def test_datetime_columns_become_ages_in_days_from_the_reference_column():
    frame = _frame()
    preprocessor = TablePreprocessor(schema=SCHEMA).fit(frame)
    probe = pd.DataFrame(
        {"seen": [datetime(2025, 1, 1, tzinfo=UTC) - timedelta(days=10)], "as_of": [datetime(2025, 1, 1, tzinfo=UTC)]}
    )
    encoding = preprocessor.numeric[2]
    assert encoding.column == "seen"
    expected = np.clip((10 - encoding.center) / encoding.scale, -8, 8)
    assert preprocessor.transform(probe).numeric[0, 2] == pytest.approx(expected, rel=1e-5)


def test_text_columns_without_embeddings_in_training_are_left_out_and_absent_columns_count_as_missing():
    preprocessor = TablePreprocessor(schema=SCHEMA).fit(_frame())  # no "notes" column at all
    assert SCHEMA.text_columns == ["notes"]
    assert "notes" not in preprocessor.fields and preprocessor.text_token_columns == []
    encoded = preprocessor.transform(pd.DataFrame({"count": [1.0, 2.0]}, index=[7, 8]))
    assert encoded.numeric.shape == (2, 3) and encoded.categorical.shape == (2, 2)
    assert (encoded.categorical == MISSING_INDEX).all()
    assert not encoded.has_text


def _with_notes(frame: pd.DataFrame, dim: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    notes = [None if i % 3 == 0 else rng.normal(size=dim).astype(np.float32) for i in range(len(frame))]
    return frame.assign(notes=pd.Series(notes, index=frame.index, dtype=object))


def test_text_columns_stack_embeddings_with_zeros_for_nothing_written():
    frame = _with_notes(_frame())
    preprocessor = TablePreprocessor(schema=SCHEMA).fit(frame)
    assert preprocessor.fields[-1] == "notes" and preprocessor.text_dim == 4
    encoded = preprocessor.transform(frame)
    assert encoded.text.shape == (len(frame), 1, 4) and encoded.text.dtype == np.float32
    np.testing.assert_allclose(encoded.text[1, 0], frame["notes"].iloc[1])
    assert not encoded.text[0].any()  # None -> the "no text" zero vector
    assert encoded.take(np.array([1, 2])).text.shape == (2, 1, 4)
    assert preprocessor.text_positions("notes") == [0]
    assert not preprocessor.baseline().text.any()  # the typical row has nothing written


def test_text_columns_refuse_raw_text_and_wrong_sizes():
    preprocessor = TablePreprocessor(schema=SCHEMA).fit(_with_notes(_frame()))
    with pytest.raises(ValueError, match="embed it first"):
        preprocessor.transform(_frame().assign(notes="call me back"))
    with pytest.raises(ValueError, match="4"):
        preprocessor.transform(_with_notes(_frame(), dim=5))


def test_text_encodings_round_trip_and_older_dicts_without_text_load():
    frame = _with_notes(_frame())
    preprocessor = TablePreprocessor(schema=SCHEMA).fit(frame)
    restored = TablePreprocessor.from_dict(json.loads(json.dumps(preprocessor.to_dict())))
    np.testing.assert_array_equal(restored.transform(frame).text, preprocessor.transform(frame).text)
    older = preprocessor.to_dict()
    del older["text"]  # a checkpoint written before text support
    assert TablePreprocessor.from_dict(older).text_token_columns == []
    assert SCHEMA.without_text().text_columns == [] and len(SCHEMA.without_text().columns) == 5


def test_infer_reads_kinds_from_dtypes():
    schema = TableSchema.infer(_frame(), reference_column="as_of")
    kinds = {c.name: c.kind for c in schema.columns}
    assert kinds == {"amount": "numeric", "count": "numeric", "source": "categorical", "title": "categorical",
                     "seen": "datetime"}


def test_using_before_fit_fails_clearly():
    with pytest.raises(RuntimeError, match="not fitted"):
        TablePreprocessor(schema=SCHEMA).transform(_frame())
