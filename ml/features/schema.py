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

Text columns hold sentence embeddings, not raw text: the caller embeds first (ml.features.text for CRM rows,
through the embedding cache; the benchmark through the same MiniLM encoder), so this module stays free of
models and databases. Each cell is a 1-D vector or missing (None/NaN = nothing written); `transform` stacks
them into `EncodedTable.text` (rows, text columns, dim), zeros for missing, which the net reads as its "no
text" token. Text columns sharing a `group` are explained as one factor (e.g. the mean and the latest
activity embedding of the same notes). Pure pandas/numpy: no Django.
"""

from __future__ import annotations

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
        """Kinds from dtypes: numbers and booleans -> numeric, datetimes -> datetime, the rest categorical."""
        labels = labels or {}
        skipped = set(exclude) | ({reference_column} if reference_column else set())
        columns = []
        for name in frame.columns:
            if name in skipped:
                continue
            dtype = frame[name].dtype
            if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
                kind = "numeric"
            elif pd.api.types.is_datetime64_any_dtype(dtype):
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


@dataclass
class CategoricalEncoding:
    column: str
    vocabulary: list[str]  # value -> index len(specials) + position
    baseline: int  # the most frequent index in training: the "typical" value explanations compare against

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

    # --- fitting ------------------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, *, reference_time: datetime | None = None) -> TablePreprocessor:
        self.numeric = []
        for spec in self.schema.columns:
            if spec.kind in ("numeric", "datetime"):
                values = self._raw_numeric(frame, spec, reference_time)
                self.numeric.append(_fit_numeric(spec.name, values))
        self.categorical = []
        for name in self.schema.categorical_columns:
            text = _as_text(_column(frame, name))
            counts = Counter(value for value in text if value is not None)
            kept = [(value, count) for value, count in counts.items() if count >= self.min_frequency]
            ordered = sorted(kept, key=lambda item: (-item[1], item[0]))[: self.max_categories]
            encoding = CategoricalEncoding(column=name, vocabulary=[value for value, _ in ordered], baseline=0)
            indices = _encode_categorical(text, encoding)
            if len(indices):
                encoding.baseline = int(np.bincount(indices, minlength=encoding.cardinality).argmax())
            self.categorical.append(encoding)
        self.text = []
        for name in self.schema.text_columns:
            vectors = [v for v in _text_vectors(frame, name) if v is not None]
            if vectors:  # a text column with nothing written in training has nothing to learn from
                self.text.append(TextEncoding(column=name, dim=int(vectors[0].shape[0])))
        if len({e.dim for e in self.text}) > 1:  # the net projects every text token with one map
            sizes = [(e.column, e.dim) for e in self.text]
            raise ValueError(f"text columns must share one embedding size, got {sizes}")
        self.fitted = True
        return self

    def fit_transform(self, frame: pd.DataFrame, *, reference_time: datetime | None = None) -> EncodedTable:
        return self.fit(frame, reference_time=reference_time).transform(frame, reference_time=reference_time)

    # --- transforming -------------------------------------------------------------------------------------
    def transform(self, frame: pd.DataFrame, *, reference_time: datetime | None = None) -> EncodedTable:
        """Columns absent from `frame` count as missing, so a frame built later (fewer custom fields) still
        encodes; columns the schema does not know are ignored."""
        self._require_fitted()
        rows = len(frame)
        values = []
        for encoding in self.numeric:
            spec = self.schema.column(encoding.column)
            raw = self._raw_numeric(frame, spec, reference_time)
            missing = ~np.isfinite(raw)
            if encoding.log:
                raw = np.sign(raw) * np.log1p(np.abs(raw))
            with np.errstate(invalid="ignore"):
                scaled = np.clip((raw - encoding.center) / encoding.scale, -self.clip, self.clip)
            values.append(np.where(missing, np.nan if encoding.missing_indicator else 0.0, scaled))
        numeric = np.stack(values, axis=1) if values else np.zeros((rows, 0))
        codes = [_encode_categorical(_as_text(_column(frame, e.column)), e) for e in self.categorical]
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
        return EncodedTable(
            numeric=numeric.astype(np.float32), categorical=categorical.astype(np.int64), text=text
        )

    # --- what the net and the explainer need to know -------------------------------------------------------
    @property
    def numeric_token_columns(self) -> list[str]:
        """The original column behind each numeric input (datetimes included, as ages)."""
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
        """Token index of each numeric input: columns sharing a schema `group` share a token."""
        self._require_fitted()
        tokens: dict[str, int] = {}
        groups = []
        for encoding in self.numeric:
            key = self.schema.column(encoding.column).group or f"column:{encoding.column}"
            groups.append(tokens.setdefault(key, len(tokens)))
        return groups

    def field_positions(self, name: str) -> tuple[list[int], list[int]]:
        """(numeric positions, categorical positions) fed by one original column."""
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
        return {
            "format": PREPROCESSOR_FORMAT,
            "schema": self.schema.to_dict(),
            "options": {"min_frequency": self.min_frequency, "max_categories": self.max_categories, "clip": self.clip},
            "numeric": [asdict(e) for e in self.numeric],
            "categorical": [asdict(e) for e in self.categorical],
            "text": [asdict(e) for e in self.text],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TablePreprocessor:
        if data.get("format") != PREPROCESSOR_FORMAT:
            raise ValueError(f"unsupported preprocessor format {data.get('format')!r}")
        return cls(
            schema=TableSchema.from_dict(data["schema"]),
            numeric=[NumericEncoding(**e) for e in data["numeric"]],
            categorical=[CategoricalEncoding(**e) for e in data["categorical"]],
            text=[TextEncoding(**e) for e in data.get("text", [])],  # absent in checkpoints from before text
            fitted=True,
            **data["options"],
        )

    # --- helpers ------------------------------------------------------------------------------------------
    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("TablePreprocessor is not fitted yet")

    def _raw_numeric(self, frame: pd.DataFrame, spec: ColumnSpec, reference_time: datetime | None) -> np.ndarray:
        column = _column(frame, spec.name)
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


def _fit_numeric(name: str, values: np.ndarray) -> NumericEncoding:
    finite = values[np.isfinite(values)]
    missing_indicator = bool(len(finite) < len(values))
    if len(finite) == 0:
        return NumericEncoding(column=name, center=0.0, scale=1.0, log=False, missing_indicator=missing_indicator)
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
    return NumericEncoding(column=name, center=float(q50), scale=scale, log=log, missing_indicator=missing_indicator)
