import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.engine.schema import MISSING_INDEX, RARE_INDEX, ColumnSpec, TablePreprocessor, TableSchema


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
    # money shares a token; the date's age, elapsed days and day of year have one each
    assert restored.numeric_groups == fitted.numeric_groups == [0, 0, 1, 2, 3]


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
    assert encoded.numeric.shape == (2, 5) and encoded.categorical.shape == (2, 4)  # + the date's parts
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
    assert kinds == {
        "amount": "numeric",
        "count": "numeric",
        "source": "categorical",
        "title": "categorical",
        "seen": "datetime",
    }


def test_using_before_fit_fails_clearly():
    with pytest.raises(RuntimeError, match="not fitted"):
        TablePreprocessor(schema=SCHEMA).transform(_frame())


# --- derived inputs: calendar parts, high-cardinality statistics, bad input -----------------------------------
FIXTURES = Path(__file__).parent / "fixtures"


def _leads(rows: int = 1200, levels: int = 500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A first-contact date, a landing page with `levels` values whose rates differ, and a channel."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 730, rows)
    page = rng.integers(0, levels, rows)
    effect = rng.normal(0, 1.0, levels)
    dates = pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D")
    logit = effect[page] + np.where(dates.day_of_week >= 5, -1.0, 0.3) - 1.0
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "first_contact": dates.strftime("%Y-%m-%d"),
            "landing_page": [f"LP-{p:04d}" for p in page],
            "channel": rng.choice(["organic", "paid", "email"], rows),
        }
    )
    return frame, labels


LEADS = TableSchema(
    columns=(
        ColumnSpec("first_contact", "datetime"),
        ColumnSpec("landing_page", "categorical"),
        ColumnSpec("channel", "categorical"),
    )
)


def test_infer_reads_text_dates_as_datetime_but_not_numbers_or_words():
    frame = pd.DataFrame(
        {
            "iso": ["2024-03-01", "2024-03-02", None, "2024-12-31"],
            "stamp": ["2024-03-01 10:15:00", "2024-03-01T11:00:00", "2024-04-01 09:00", None],
            "code": ["12", "13", "14", "15"],
            "word": ["March", "April", "May", "June"],
        }
    )
    kinds = {c.name: c.kind for c in TableSchema.infer(frame).columns}
    assert kinds == {"iso": "datetime", "stamp": "datetime", "code": "categorical", "word": "categorical"}


def test_dates_without_a_reference_become_elapsed_days_and_calendar_parts_of_the_same_field():
    frame, _ = _leads()
    preprocessor = TablePreprocessor(schema=LEADS).fit(frame)  # no reference column, no reference_time
    parts = [(e.column, e.part) for e in preprocessor.numeric]
    assert ("first_contact", "elapsed") in parts and ("first_contact", "day_of_year") in parts
    assert ("first_contact", "") not in parts  # no age without a reference: elapsed days instead of failing
    numeric, categorical = preprocessor.field_positions("first_contact")
    assert [preprocessor.numeric[i].part for i in numeric] == ["elapsed", "day_of_year"]
    assert [preprocessor.categorical[i].part for i in categorical] == ["month", "weekday"]
    assert set(preprocessor.numeric_token_columns) == {"first_contact", "landing_page"}
    assert preprocessor.fields == ["first_contact", "landing_page", "channel"]  # one field each for explanations
    probe = pd.DataFrame({"first_contact": ["2024-03-02"]})  # a Saturday in March
    encoded = preprocessor.transform(probe)
    month, weekday = (preprocessor.categorical[i] for i in categorical)
    assert month.value_of(int(encoded.categorical[0, categorical[0]])) == "3"
    assert weekday.value_of(int(encoded.categorical[0, categorical[1]])) == "5"
    assert np.isfinite(encoded.numeric[0, numeric]).all()


def test_dates_with_a_reference_keep_their_age_and_add_the_calendar():
    preprocessor = TablePreprocessor(schema=SCHEMA).fit(_frame())
    assert [e.part for e in preprocessor.numeric if e.column == "seen"] == ["", "elapsed", "day_of_year"]
    assert [e.part for e in preprocessor.categorical if e.column == "seen"] == ["month", "weekday"]


def test_high_cardinality_columns_get_frequency_and_out_of_fold_target_rates():
    frame, labels = _leads()
    rows = np.arange(800)
    preprocessor = TablePreprocessor(schema=LEADS).fit(frame, rows=rows, labels=labels)
    parts = [e.part for e in preprocessor.numeric if e.column == "landing_page"]
    assert parts == ["frequency", "target"]  # the low-cardinality channel gets none
    target = [i for i, e in enumerate(preprocessor.numeric) if e.part == "target"][0]
    own = preprocessor.transform(frame)  # the frame given to fit: its fitted rows get out-of-fold rates
    other = preprocessor.transform(frame.copy())  # any other frame: full-training rates
    assert not np.allclose(own.numeric[rows, target], other.numeric[rows, target])  # out-of-fold on fit rows
    np.testing.assert_array_equal(own.numeric[800:], other.numeric[800:])  # the rest: full-training rates
    np.testing.assert_array_equal(np.delete(own.numeric, target, axis=1), np.delete(other.numeric, target, axis=1))
    # The rates carry signal: on the held-out rows they rank the outcome better than chance.
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(labels[800:], other.numeric[800:, target]) > 0.6


def test_target_rates_never_read_labels_outside_the_fitted_rows():
    frame, labels = _leads()
    rows = np.arange(800)
    shuffled = labels.copy()
    shuffled[800:] = np.random.default_rng(5).permutation(shuffled[800:])  # validation / test labels
    shuffled[850:900] = 1 - shuffled[850:900]
    first = TablePreprocessor(schema=LEADS).fit(frame, rows=rows, labels=labels)
    second = TablePreprocessor(schema=LEADS).fit(frame, rows=rows, labels=shuffled)
    assert first.to_dict() == second.to_dict()
    np.testing.assert_array_equal(first.transform(frame).numeric, second.transform(frame).numeric)


def test_fit_transform_gives_the_training_rows_out_of_fold_rates():
    frame, labels = _leads()
    preprocessor = TablePreprocessor(schema=LEADS)
    fitted = preprocessor.fit_transform(frame, labels=labels)
    scored = preprocessor.transform(frame.copy())
    target = [i for i, e in enumerate(preprocessor.numeric) if e.part == "target"][0]
    assert not np.allclose(fitted.numeric[:, target], scored.numeric[:, target])


def test_statistics_round_trip_through_json():
    frame, labels = _leads()
    fitted = TablePreprocessor(schema=LEADS).fit(frame, labels=labels)
    restored = TablePreprocessor.from_dict(json.loads(json.dumps(fitted.to_dict())))
    probe = frame.copy()
    np.testing.assert_array_equal(fitted.transform(probe).numeric, restored.transform(probe).numeric)
    np.testing.assert_array_equal(fitted.transform(probe).categorical, restored.transform(probe).categorical)
    assert restored.to_dict() == fitted.to_dict()


def test_a_preprocessor_serialised_before_derived_inputs_loads_and_transforms_as_before():
    """Written by the previous version of this module (format 1, no `part`, no `statistics`)."""
    saved = json.loads((FIXTURES / "preprocessor_before_derived_inputs.json").read_text())
    preprocessor = TablePreprocessor.from_dict(saved["preprocessor"])
    encoded = preprocessor.transform(_frame().iloc[:25])
    expected = np.array([[np.nan if x is None else x for x in row] for row in saved["numeric"]], dtype=np.float32)
    np.testing.assert_array_equal(encoded.numeric, expected)
    np.testing.assert_array_equal(encoded.categorical, np.array(saved["categorical"]))
    assert preprocessor.numeric_groups == [0, 0, 1] and preprocessor.statistics == []


def test_500_levels_and_unseen_levels_encode():
    frame, labels = _leads(rows=3000, levels=500)
    preprocessor = TablePreprocessor(schema=LEADS).fit(frame, labels=labels)
    statistics = preprocessor.statistics[0]
    assert statistics.column == "landing_page" and len(statistics.levels) == frame["landing_page"].nunique()
    unseen = pd.DataFrame({"landing_page": ["LP-9999", None], "channel": ["organic", "fax"]})
    encoded = preprocessor.transform(unseen)
    assert np.isfinite(encoded.numeric[:, preprocessor.field_positions("landing_page")[0]]).all()


def test_labels_must_be_binary_and_one_class_falls_back_to_frequency_only():
    frame, labels = _leads(rows=300)
    with pytest.raises(ValueError, match="0/1"):
        TablePreprocessor(schema=LEADS).fit(frame, labels=np.where(labels == 1, 2, 0))
    with pytest.raises(ValueError, match="values for"):
        TablePreprocessor(schema=LEADS).fit(frame, labels=labels[:10])
    one_class = TablePreprocessor(schema=LEADS).fit(frame, labels=np.zeros(len(frame)))
    assert [e.part for e in one_class.numeric if e.column == "landing_page"] == ["frequency"]
    assert np.isfinite(one_class.transform(frame).numeric[:, 2:]).all()


def test_all_missing_constant_and_tiny_frames_encode_without_crashing():
    frame = pd.DataFrame(
        {
            "empty_number": [np.nan] * 20,
            "constant": [3.0] * 20,
            "empty_category": [None] * 20,
            "empty_date": [None] * 20,
            "page": [f"p{i}" for i in range(20)],
        }
    )
    schema = TableSchema(
        columns=(
            ColumnSpec("empty_number", "numeric"),
            ColumnSpec("constant", "numeric"),
            ColumnSpec("empty_category", "categorical"),
            ColumnSpec("empty_date", "datetime"),
            ColumnSpec("page", "categorical"),
        )
    )
    labels = np.tile([0, 1], 10)
    preprocessor = TablePreprocessor(schema=schema).fit(frame, labels=labels)
    encoded = preprocessor.transform(frame)
    finite_or_missing = np.isfinite(encoded.numeric) | np.isnan(encoded.numeric)
    assert finite_or_missing.all() and not np.isinf(encoded.numeric).any()
    assert (encoded.numeric[:, 1] == 0).all()  # constant: the median, scale 1
    assert np.isnan(encoded.numeric[:, 0]).all()  # all missing in training: its missing token
    assert (encoded.categorical[:, 0] == MISSING_INDEX).all()
    one_row = TablePreprocessor(schema=schema).fit(frame.iloc[:1], labels=labels[:1])
    assert one_row.transform(frame).numeric.shape[0] == 20
