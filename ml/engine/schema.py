"""A generic table schema and the preprocessor that turns a frame into model inputs.

`TableSchema` says what each column is (numeric, categorical, datetime, text) and how to name it in plain
words. `TablePreprocessor` is fitted on training rows and then turns any frame with those columns into two
arrays: numeric values (robust-scaled, clipped; datetimes as ages in days) and categorical indices (a
vocabulary with a minimum frequency; index 0 is "<missing>", 1 is "<rare>" for anything unseen or
infrequent). A missing number is the missing indicator itself: NaN in the numeric array, which the net
turns into that feature's learned "missing" token (one token per feature instead of a value token plus an
indicator token keeps the sequence short). Columns never missing in training are median-imputed instead,
since their "missing" token would be untrained.
Both serialise to plain JSON, stored in `ModelVersion.feature_schema` and in the checkpoint.

Derived inputs keep their ORIGINAL column name (`numeric_token_columns`, `CategoricalEncoding.column`), so
`field_positions` and the explainers sum them into that one field; `part` says which derivation it is:
- datetime columns: the age in days from the reference (the frame's reference column or `reference_time`;
  left out when fit had neither, e.g. a CSV), the elapsed days since 1970 (robust-scaled around the training
  median date: a fixed reference learned at fit time, so a trend needs no reference column), the day of the
  year, and the month and weekday as categories (`DATETIME_PARTS`).
- categorical columns with more than `HIGH_CARDINALITY` distinct training values (landing pages, cities):
  the log count of the value in training and, when `fit` gets `labels`, its smoothed target rate
  (m-estimate towards the training prior, as log-odds; `LevelStatistics`). Training rows must not see their
  own label, so `fit` also remembers out-of-fold rates (`TARGET_FOLDS` folds) for the rows it was fitted on,
  and `transform` of that very frame object (`fit(frame, rows=..., labels=...)` then `transform(frame)`)
  gives those rows their out-of-fold rates; every other frame (validation, test, scoring) gets the
  full-training rates. Only training labels are ever read.
Old serialised preprocessors (no `part`, no `statistics`) load and transform exactly as before.

Text columns hold sentence embeddings, not raw text: the caller embeds first (ml.features.text for CRM rows,
through the embedding cache; the benchmark through the same MiniLM encoder), so this module stays free of
models and databases. Each cell is a 1-D vector or missing (None/NaN = nothing written); `transform` stacks
them into `EncodedTable.text` (rows, text columns, dim), zeros for missing, which the net reads as its "no
text" token. Text columns sharing a `group` are explained as one factor (e.g. the mean and the latest
activity embedding of the same notes). Pure pandas/numpy: no Django.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

PREPROCESSOR_FORMAT = 1
KINDS = ("numeric", "categorical", "datetime", "text")
MISSING = "<missing>"
RARE = "<rare>"
MISSING_INDEX = 0
RARE_INDEX = 1
SECONDS_PER_DAY = 86_400.0
# Derived inputs of each datetime column besides its age: (part, kind of input).
DATETIME_PARTS = (
    ("elapsed", "numeric"),
    ("day_of_year", "numeric"),
    ("month", "categorical"),
    ("weekday", "categorical"),
)
# A categorical column with more distinct training values than this also gets frequency and target statistics:
# below it one embedding / one-hot level per value learns well enough on its own.
HIGH_CARDINALITY = 50
TARGET_SMOOTHING = 20.0  # m-estimate weight: a value seen m times in training moves halfway from the prior
TARGET_FOLDS = 5  # out-of-fold target rates for the training rows themselves
MAX_STATISTIC_LEVELS = 20_000  # most frequent values kept in the serialised statistics; the rest count as unseen
DATE_SHARE = 0.95  # a text column whose non-blank values are at least this date-like is a datetime column
_DATE_LIKE = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})([ T]\d{1,2}:\d{2}.*)?\s*$")


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # one of KINDS
    label: str = ""  # plain words for explanations, e.g. "Inbound emails (30 days)"
    # Numeric columns with the same non-empty group share one net token (see FTTransformerConfig.numeric_groups);
    # text columns with the same group are one factor in explanations.
    group: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: unknown kind {self.kind!r} (expected one of {KINDS})")

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[ColumnSpec, ...]
    # Datetime columns become "age in days" measured from this column of the frame (one reference time per
    # row, e.g. the snapshot time) or from the `reference_time` given to `transform`.
    reference_column: str | None = None

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate columns in schema: {duplicates}")

    def names(self, kind: str) -> list[str]:
        return [column.name for column in self.columns if column.kind == kind]

    @property
    def numeric_columns(self) -> list[str]:
        return self.names("numeric")

    @property
    def categorical_columns(self) -> list[str]:
        return self.names("categorical")

    @property
    def datetime_columns(self) -> list[str]:
        return self.names("datetime")

    @property
    def text_columns(self) -> list[str]:
        return self.names("text")

    def column(self, name: str) -> ColumnSpec:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(column) for column in self.columns], "reference_column": self.reference_column}

    def without_text(self) -> TableSchema:
        """The same schema minus text columns (for models that do not read embeddings)."""
        return TableSchema(
            columns=tuple(c for c in self.columns if c.kind != "text"), reference_column=self.reference_column
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableSchema:
        return cls(
            columns=tuple(ColumnSpec(**column) for column in data["columns"]),
            reference_column=data.get("reference_column"),
        )

    @classmethod
    def infer(
        cls,
        frame: pd.DataFrame,
        *,
        labels: Mapping[str, str] | None = None,
        exclude: Iterable[str] = (),
        reference_column: str | None = None,
    ) -> TableSchema:
        """Kinds from dtypes: numbers and booleans -> numeric, datetimes and text that reads as dates
        (`looks_like_dates`, e.g. "2024-03-01" in a CSV) -> datetime, the rest categorical."""
        labels = labels or {}
        skipped = set(exclude) | ({reference_column} if reference_column else set())
        columns = []
        for name in frame.columns:
            if name in skipped:
                continue
            dtype = frame[name].dtype
            if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
                kind = "numeric"
            elif pd.api.types.is_datetime64_any_dtype(dtype) or looks_like_dates(frame[name]):
                kind = "datetime"
            else:
                kind = "categorical"
            columns.append(ColumnSpec(name=str(name), kind=kind, label=labels.get(name, "")))
        return cls(columns=tuple(columns), reference_column=reference_column)


@dataclass
class NumericEncoding:
    """Fitted scaling of one numeric or datetime column: z = (f(x) - center) / scale, clipped."""

    column: str
    center: float
    scale: float
    log: bool  # signed log1p first, for heavy-tailed non-negative values (revenue, head count)
    missing_indicator: bool  # training data had missing values: keep them as NaN (the net's "missing" token)
    # "" = the column itself (a datetime's age); datetimes: "elapsed", "day_of_year"; high-cardinality
    # categoricals: "frequency" (log training count), "target" (smoothed target log-odds).
    part: str = ""


@dataclass
class CategoricalEncoding:
    column: str
    vocabulary: list[str]  # value -> index len(specials) + position
    baseline: int  # the most frequent index in training: the "typical" value explanations compare against
    part: str = ""  # "" = the column's values; datetimes: "month", "weekday"

    @property
    def cardinality(self) -> int:
        return len(self.vocabulary) + 2

    def value_of(self, index: int) -> str:
        if index == MISSING_INDEX:
            return MISSING
        if index == RARE_INDEX:
            return RARE
        return self.vocabulary[index - 2]


@dataclass
class LevelStatistics:
    """Per-value training counts of one categorical column (missing is the value "<missing>"), and the
    positives among them when fitted with labels. Rates are m-estimates: (positives + m * prior) / (count + m)."""

    column: str
    levels: list[str]
    counts: list[int]
    positives: list[float] | None  # None: fitted without labels (frequency only)
    prior: float | None
    smoothing: float = TARGET_SMOOTHING

    @classmethod
    def fit(cls, column: str, values: list[str], labels: np.ndarray | None) -> LevelStatistics:
        levels, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
        counts = np.bincount(codes, minlength=len(levels))
        keep = np.argsort(-counts, kind="stable")[:MAX_STATISTIC_LEVELS]
        keep = keep[np.argsort(levels[keep].astype(str), kind="stable")]
        positives, prior = None, None
        if labels is not None:
            positives = np.bincount(codes, weights=labels, minlength=len(levels))[keep].tolist()
            prior = float(labels.mean())
        return cls(
            column=column,
            levels=[str(v) for v in levels[keep]],
            counts=counts[keep].astype(int).tolist(),
            positives=positives,
            prior=prior,
        )

    @property
    def has_target(self) -> bool:
        return self.positives is not None and self.prior is not None

    def frequency(self, values: list[str]) -> np.ndarray:
        """log(1 + training count) of each value; 0 for values never seen in training."""
        lookup = dict(zip(self.levels, self.counts, strict=True))
        return np.log1p(np.asarray([lookup.get(value, 0) for value in values], dtype=np.float64))

    def target(self, values: list[str]) -> np.ndarray:
        """Smoothed target log-odds of each value from all training rows; unseen values get the prior."""
        if not self.has_target:
            raise RuntimeError(f"{self.column!r}: statistics were fitted without labels")
        positions = {value: i for i, value in enumerate(self.levels)}
        index = np.asarray([positions.get(value, -1) for value in values], dtype=np.int64)
        counts = np.append(np.asarray(self.counts, dtype=np.float64), 0.0)[index]
        positives = np.append(np.asarray(self.positives, dtype=np.float64), 0.0)[index]
        return _smoothed_log_odds(positives, counts, prior=self.prior, smoothing=self.smoothing)


def target_out_of_fold(
    values: list[str], labels: np.ndarray, *, folds: int = TARGET_FOLDS, smoothing: float = TARGET_SMOOTHING
) -> np.ndarray:
    """Smoothed target log-odds of each training row from the OTHER folds only (seeded, by row position), so a
    model trained on these rows never reads its own label through the statistic."""
    _, codes = np.unique(np.asarray(values, dtype=object), return_inverse=True)
    rows = len(codes)
    out = np.zeros(rows, dtype=np.float64)
    folds = min(folds, rows)
    if folds < 2:  # a single row has no other fold: it gets a neutral rate
        return out
    assignment = np.empty(rows, dtype=np.int64)
    assignment[np.random.default_rng(0).permutation(rows)] = np.arange(rows) % folds
    for fold in range(folds):
        inside = assignment == fold
        others = ~inside
        counts = np.bincount(codes[others], minlength=codes.max() + 1).astype(np.float64)
        positives = np.bincount(codes[others], weights=labels[others], minlength=codes.max() + 1)
        prior = float(labels[others].mean())
        out[inside] = _smoothed_log_odds(
            positives[codes[inside]], counts[codes[inside]], prior=prior, smoothing=smoothing
        )
    return out


def _smoothed_log_odds(positives: np.ndarray, counts: np.ndarray, *, prior: float, smoothing: float) -> np.ndarray:
    # Clipping the prior keeps the log-odds finite even when the other folds hold a single class.
    prior = min(max(prior, 1e-4), 1 - 1e-4)
    rate = (positives + smoothing * prior) / (counts + smoothing)
    return np.log(rate / (1.0 - rate))


def labels_binary(labels: np.ndarray | pd.Series | list[Any], *, rows: int) -> np.ndarray:
    """Float labels, one per row, 0/1 (or soft labels in [0, 1]); a plain ValueError for anything else."""
    try:
        y = np.asarray(labels, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"labels must be numbers 0/1: {exc}") from None
    if len(y) != rows:
        raise ValueError(f"labels: {len(y)} values for {rows} rows")
    if not (np.isfinite(y).all() and ((y >= 0) & (y <= 1)).all()):
        raise ValueError("labels must be 0/1 (missing labels are not allowed)")
    return y


def looks_like_dates(series: pd.Series) -> bool:
    """True for a text column whose non-blank values read as dates ("2024-03-01", "01/03/2024 10:15")."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return False
    present = [value for value in series.dropna().tolist()[:2000] if isinstance(value, str) and value.strip()]
    if not present or len(present) < DATE_SHARE * min(series.notna().sum(), 2000):
        return False
    if sum(bool(_DATE_LIKE.match(value)) for value in present) < DATE_SHARE * len(present):
        return False
    parsed = pd.to_datetime(pd.Series(present), errors="coerce", format="mixed", utc=True)
    return bool(parsed.notna().mean() >= DATE_SHARE)


@dataclass
class TextEncoding:
    column: str
    dim: int  # embedding size seen in training


@dataclass
class EncodedTable:
    numeric: np.ndarray  # float32 (rows, numeric columns); NaN = missing
    categorical: np.ndarray  # int64 (rows, categorical columns)
    text: np.ndarray | None = None  # float32 (rows, text columns, dim); a zero vector = no text; None = no text columns

    def __len__(self) -> int:
        return int(self.numeric.shape[0])

    def take(self, rows: np.ndarray | slice) -> EncodedTable:
        text = None if self.text is None else self.text[rows]
        return EncodedTable(numeric=self.numeric[rows], categorical=self.categorical[rows], text=text)

    @property
    def has_text(self) -> bool:
        return self.text is not None and self.text.shape[1] > 0


@dataclass
class TablePreprocessor:
    schema: TableSchema
    min_frequency: int = 5
    max_categories: int = 1000
    clip: float = 8.0
    numeric: list[NumericEncoding] = field(default_factory=list)
    categorical: list[CategoricalEncoding] = field(default_factory=list)
    text: list[TextEncoding] = field(default_factory=list)
    fitted: bool = False
    statistics: list[LevelStatistics] = field(default_factory=list)
    # The frame `fit` read, its fitted row positions and their out-of-fold target log-odds per column: only
    # `transform` of that same frame object uses them. Not serialised (scoring never sees training rows).
    _out_of_fold: tuple[Any, np.ndarray, dict[str, np.ndarray]] | None = field(default=None, repr=False, compare=False)

    # --- fitting ------------------------------------------------------------------------------------------
    def fit(
        self,
        frame: pd.DataFrame,
        *,
        reference_time: datetime | None = None,
        labels: np.ndarray | pd.Series | None = None,
        rows: np.ndarray | None = None,
    ) -> TablePreprocessor:
        """Fit on `frame` (or on its row positions `rows`). `labels` (0/1, one per row of `frame`; with `rows`
        only those rows' labels are read) add target statistics for high-cardinality columns, and the fitted
        rows get out-of-fold rates when this same `frame` is transformed. Without labels only frequencies."""
        source = frame
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            frame = frame.iloc[rows]
        y = None
        if labels is not None:
            y = labels_binary(labels, rows=len(source))
            y = y[rows] if rows is not None else y
            if len(np.unique(y)) < 2:  # no contrast to learn a rate from: frequencies only (documented fallback)
                y = None
        has_reference = reference_time is not None or (
            self.schema.reference_column is not None and self.schema.reference_column in frame.columns
        )
        texts = {name: _as_text(_column(frame, name)) for name in self.schema.categorical_columns}
        self.numeric, self.categorical, self.statistics = [], [], []
        out_of_fold: dict[str, np.ndarray] = {}
        for spec in self.schema.columns:
            if spec.kind == "numeric" or (spec.kind == "datetime" and has_reference):
                values = self._raw_numeric(frame, NumericEncoding(spec.name, 0.0, 1.0, False, False), reference_time)
                self.numeric.append(_fit_numeric(spec.name, values))
            if spec.kind == "datetime":
                for part, kind in DATETIME_PARTS:
                    if kind == "numeric":
                        values = _datetime_part(_column(frame, spec.name), part)
                        self.numeric.append(_fit_numeric(spec.name, values, part=part))
        for name in self.schema.categorical_columns:
            distinct = {value for value in texts[name] if value is not None}
            if len(distinct) <= HIGH_CARDINALITY:
                continue
            keys = _statistic_keys(texts[name])
            statistics = LevelStatistics.fit(name, keys, y)
            self.statistics.append(statistics)
            self.numeric.append(_fit_numeric(name, statistics.frequency(keys), part="frequency"))
            if statistics.has_target:
                out_of_fold[name] = target_out_of_fold(keys, y, smoothing=statistics.smoothing)
                self.numeric.append(_fit_numeric(name, out_of_fold[name], part="target"))
        for name in self.schema.categorical_columns:
            self.categorical.append(self._fit_categorical(name, texts[name]))
        for spec in self.schema.columns:
            if spec.kind == "datetime":
                for part, kind in DATETIME_PARTS:
                    if kind == "categorical":
                        values = _calendar_text(_column(frame, spec.name), part)
                        self.categorical.append(self._fit_categorical(spec.name, values, part=part))
        self.text = []
        for name in self.schema.text_columns:
            vectors = [v for v in _text_vectors(frame, name) if v is not None]
            if vectors:  # a text column with nothing written in training has nothing to learn from
                self.text.append(TextEncoding(column=name, dim=int(vectors[0].shape[0])))
        if len({e.dim for e in self.text}) > 1:  # the net projects every text token with one map
            sizes = [(e.column, e.dim) for e in self.text]
            raise ValueError(f"text columns must share one embedding size, got {sizes}")
        positions = np.arange(len(frame)) if rows is None else rows
        self._out_of_fold = (weakref.ref(source), positions, out_of_fold) if out_of_fold else None
        self.fitted = True
        return self

    def _fit_categorical(self, name: str, text: list[str | None], *, part: str = "") -> CategoricalEncoding:
        counts = Counter(value for value in text if value is not None)
        kept = [(value, count) for value, count in counts.items() if count >= self.min_frequency]
        ordered = sorted(kept, key=lambda item: (-item[1], item[0]))[: self.max_categories]
        encoding = CategoricalEncoding(column=name, vocabulary=[value for value, _ in ordered], baseline=0, part=part)
        indices = _encode_categorical(text, encoding)
        if len(indices):
            encoding.baseline = int(np.bincount(indices, minlength=encoding.cardinality).argmax())
        return encoding

    def fit_transform(
        self,
        frame: pd.DataFrame,
        *,
        reference_time: datetime | None = None,
        labels: np.ndarray | pd.Series | None = None,
    ) -> EncodedTable:
        """Fit and encode the same rows; with labels, their target statistics are out-of-fold."""
        return self.fit(frame, reference_time=reference_time, labels=labels).transform(
            frame, reference_time=reference_time
        )

    # --- transforming -------------------------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame, *, reference_time: datetime | None = None) -> EncodedTable:
        """Columns absent from `frame` count as missing, so a frame built later (fewer custom fields) still
        encodes; columns the schema does not know are ignored. Target statistics are the full-training ones,
        except for the rows `fit` was fitted on when `frame` is the very frame object given to `fit`: those
        get their out-of-fold rates (see the module docstring)."""
        self._require_fitted()
        rows = len(frame)
        out_of_fold = None
        if self._out_of_fold is not None and self._out_of_fold[0]() is frame:
            out_of_fold = self._out_of_fold
        values = []
        for encoding in self.numeric:
            raw = self._raw_numeric(frame, encoding, reference_time)
            if encoding.part == "target" and out_of_fold is not None and encoding.column in out_of_fold[2]:
                raw[out_of_fold[1]] = out_of_fold[2][encoding.column]
            missing = ~np.isfinite(raw)
            if encoding.log:
                raw = np.sign(raw) * np.log1p(np.abs(raw))
            with np.errstate(invalid="ignore"):
                scaled = np.clip((raw - encoding.center) / encoding.scale, -self.clip, self.clip)
            values.append(np.where(missing, np.nan if encoding.missing_indicator else 0.0, scaled))
        numeric = np.stack(values, axis=1) if values else np.zeros((rows, 0))
        codes = []
        for encoding in self.categorical:
            if encoding.part:
                text = _calendar_text(_column(frame, encoding.column), encoding.part)
            else:
                text = _as_text(_column(frame, encoding.column))
            codes.append(_encode_categorical(text, encoding))
        categorical = np.stack(codes, axis=1) if codes else np.zeros((rows, 0), dtype=np.int64)
        text = None
        if self.text:
            text = np.zeros((rows, len(self.text), self.text[0].dim), dtype=np.float32)
            for position, encoding in enumerate(self.text):
                for row, vector in enumerate(_text_vectors(frame, encoding.column)):
                    if vector is not None:
                        if vector.shape[0] != encoding.dim:
                            raise ValueError(
                                f"text column {encoding.column!r}: {vector.shape[0]}-dim vector, "
                                f"trained on {encoding.dim}"
                            )
                        text[row, position] = vector
        return EncodedTable(numeric=numeric.astype(np.float32), categorical=categorical.astype(np.int64), text=text)

    # --- what the net and the explainer need to know -------------------------------------------------------
    @property
    def numeric_token_columns(self) -> list[str]:
        """The original column behind each numeric input (datetimes and derived inputs included)."""
        self._require_fitted()
        return [e.column for e in self.numeric]

    @property
    def categorical_cardinalities(self) -> list[int]:
        self._require_fitted()
        return [e.cardinality for e in self.categorical]

    @property
    def text_token_columns(self) -> list[str]:
        """The text columns the net reads (those with embeddings in training), one token each."""
        return [e.column for e in self.text]

    @property
    def text_dim(self) -> int:
        return self.text[0].dim if self.text else 0

    @property
    def fields(self) -> list[str]:
        """Original columns that feed the net, in schema order (text columns only if they had embeddings)."""
        encoded_text = set(self.text_token_columns)
        return [spec.name for spec in self.schema.columns if spec.kind != "text" or spec.name in encoded_text]

    @property
    def numeric_groups(self) -> list[int]:
        """Token index of each numeric input: columns sharing a schema `group` share a token; each derived
        input (a date's day of year, a category's frequency) has its own."""
        self._require_fitted()
        tokens: dict[str, int] = {}
        groups = []
        for encoding in self.numeric:
            key = self.schema.column(encoding.column).group or f"column:{encoding.column}:{encoding.part}"
            groups.append(tokens.setdefault(key, len(tokens)))
        return groups

    def field_positions(self, name: str) -> tuple[list[int], list[int]]:
        """(numeric positions, categorical positions) fed by one original column, derived inputs included."""
        numeric = [i for i, column in enumerate(self.numeric_token_columns) if column == name]
        categorical = [i for i, e in enumerate(self.categorical) if e.column == name]
        return numeric, categorical

    def text_positions(self, name: str) -> list[int]:
        """Positions in `EncodedTable.text` fed by one original column."""
        return [i for i, e in enumerate(self.text) if e.column == name]

    def baseline(self) -> EncodedTable:
        """One row holding every field's typical value: the median for numbers (scaled 0, not missing) and
        the most frequent category; text is "nothing written". Explanations compare against this row."""
        self._require_fitted()
        numeric = np.zeros((1, len(self.numeric_token_columns)), dtype=np.float32)
        categorical = np.array([[e.baseline for e in self.categorical]], dtype=np.int64).reshape(1, -1)
        text = np.zeros((1, len(self.text), self.text_dim), dtype=np.float32) if self.text else None
        return EncodedTable(numeric=numeric, categorical=categorical, text=text)

    # --- serialisation ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._require_fitted()
        data = {
            "format": PREPROCESSOR_FORMAT,
            "schema": self.schema.to_dict(),
            "options": {"min_frequency": self.min_frequency, "max_categories": self.max_categories, "clip": self.clip},
            "numeric": [asdict(e) for e in self.numeric],
            "categorical": [asdict(e) for e in self.categorical],
            "text": [asdict(e) for e in self.text],
        }
        if self.statistics:  # optional key: dicts without it (older checkpoints) load unchanged
            data["statistics"] = [asdict(s) for s in self.statistics]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TablePreprocessor:
        if data.get("format") != PREPROCESSOR_FORMAT:
            raise ValueError(f"unsupported preprocessor format {data.get('format')!r}")
        return cls(
            schema=TableSchema.from_dict(data["schema"]),
            numeric=[NumericEncoding(**e) for e in data["numeric"]],
            categorical=[CategoricalEncoding(**e) for e in data["categorical"]],
            text=[TextEncoding(**e) for e in data.get("text", [])],  # absent in checkpoints from before text
            statistics=[LevelStatistics(**s) for s in data.get("statistics", [])],  # absent before statistics
            fitted=True,
            **data["options"],
        )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_out_of_fold"] = None  # a weak reference does not pickle; a copy scores like a loaded model
        return state

    # --- helpers ------------------------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("TablePreprocessor is not fitted yet")

    def _statistics(self, name: str) -> LevelStatistics:
        for statistics in self.statistics:
            if statistics.column == name:
                return statistics
        raise KeyError(name)

    def _raw_numeric(
        self, frame: pd.DataFrame, encoding: NumericEncoding, reference_time: datetime | None
    ) -> np.ndarray:
        spec = self.schema.column(encoding.column)
        column = _column(frame, spec.name)
        if encoding.part in ("frequency", "target"):
            keys = _statistic_keys(_as_text(column))
            statistics = self._statistics(spec.name)
            return statistics.frequency(keys) if encoding.part == "frequency" else statistics.target(keys)
        if encoding.part:
            return _datetime_part(column, encoding.part)
        if spec.kind == "numeric":
            if pd.api.types.is_bool_dtype(column.dtype):
                column = column.astype(float)
            return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if spec.name not in frame.columns:
            return np.full(len(frame), np.nan)  # absent: missing, whatever the reference time
        return _age_days(column, self._reference(frame, reference_time))

    def _reference(self, frame: pd.DataFrame, reference_time: datetime | None) -> pd.Series:
        if reference_time is not None:
            return pd.Series(pd.Timestamp(reference_time), index=frame.index)
        if self.schema.reference_column and self.schema.reference_column in frame.columns:
            return frame[self.schema.reference_column]
        raise ValueError("datetime columns need a reference time: pass reference_time or add the reference column")


def _statistic_keys(text: list[str | None]) -> list[str]:
    # Missing is a value of its own for the statistics: a blank landing page can convert differently.
    return [MISSING if value is None else value for value in text]


def datetime_utc(values: pd.Series) -> pd.Series:
    """A column as UTC timestamps (NaT where missing or unreadable); text dates of mixed formats are parsed."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.tz_convert("UTC") if values.dt.tz is not None else values.dt.tz_localize("UTC")
    return pd.to_datetime(values, utc=True, errors="coerce", format="mixed")


def _datetime_part(values: pd.Series, part: str) -> np.ndarray:
    """A numeric calendar part of a datetime column (NaN where missing): days since 1970, day of the year."""
    moments = datetime_utc(values)
    if part == "elapsed":
        result = (moments - pd.Timestamp(0, tz="UTC")).dt.total_seconds() / SECONDS_PER_DAY
    elif part == "day_of_year":
        result = moments.dt.day_of_year.astype("float64")
    else:
        raise ValueError(f"unknown datetime part {part!r}")
    return result.to_numpy(dtype=np.float64, na_value=np.nan)


def _calendar_text(values: pd.Series, part: str) -> list[str | None]:
    """A categorical calendar part as text ("1".."12" for months, "0" = Monday .. "6"), None where missing."""
    moments = datetime_utc(values)
    if part == "month":
        numbers = moments.dt.month
    elif part == "weekday":
        numbers = moments.dt.day_of_week
    else:
        raise ValueError(f"unknown datetime part {part!r}")
    return [None if pd.isna(value) else str(int(value)) for value in numbers.tolist()]


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _text_vectors(frame: pd.DataFrame, name: str) -> list[np.ndarray | None]:
    """A text column's cells as float32 vectors, None where nothing was written (None, NaN, all zeros)."""
    vectors: list[np.ndarray | None] = []
    for value in _column(frame, name).tolist():
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            vectors.append(None)
            continue
        if isinstance(value, str):
            raise ValueError(f"text column {name!r} holds raw text: embed it first (ml.features.text / ml.text)")
        vector = np.asarray(value, dtype=np.float32).ravel()
        vectors.append(vector if vector.size and np.any(vector != 0) else None)
    return vectors


def _as_text(series: pd.Series) -> list[str | None]:
    """Categorical values as stripped strings; None for missing (NaN, None, empty). A plain list, because
    pandas would turn the Nones back into NaN."""

    def normalise(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 3.0 from a float column and "3" are the same category
        text = str(value).strip()
        return text or None

    return [normalise(value) for value in series.astype(object).tolist()]


def _encode_categorical(text: list[str | None], encoding: CategoricalEncoding) -> np.ndarray:
    lookup = {value: position + 2 for position, value in enumerate(encoding.vocabulary)}
    codes = [MISSING_INDEX if value is None else lookup.get(value, RARE_INDEX) for value in text]
    return np.asarray(codes, dtype=np.int64)


def _age_days(values: pd.Series, reference: pd.Series) -> np.ndarray:
    moments = pd.to_datetime(values, utc=True, errors="coerce")
    references = pd.to_datetime(reference, utc=True, errors="coerce")
    delta = (references.to_numpy() - moments.to_numpy()).astype("timedelta64[s]").astype("float64")
    delta[pd.isna(moments).to_numpy() | pd.isna(references).to_numpy()] = np.nan
    return delta / SECONDS_PER_DAY


def _fit_numeric(name: str, values: np.ndarray, *, part: str = "") -> NumericEncoding:
    finite = values[np.isfinite(values)]
    missing_indicator = bool(len(finite) < len(values))
    if len(finite) == 0:  # all missing in training (or no rows): a neutral scale, every value its missing token
        return NumericEncoding(
            column=name, center=0.0, scale=1.0, log=False, missing_indicator=missing_indicator, part=part
        )
    q50, q99 = np.quantile(finite, [0.5, 0.99])
    log = bool(finite.min() >= 0 and q99 > 10.0 * (q50 + 1.0))
    if log:
        finite = np.log1p(finite)
    q25, q50, q75 = np.quantile(finite, [0.25, 0.5, 0.75])
    scale = float(q75 - q25)
    if scale <= 1e-9:  # mostly-constant columns (sparse counts): fall back to the spread that exists
        scale = float(finite.std())
    if scale <= 1e-9:
        scale = 1.0
    return NumericEncoding(
        column=name, center=float(q50), scale=scale, log=log, missing_indicator=missing_indicator, part=part
    )
