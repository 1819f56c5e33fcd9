"""Type aliases, as anonlink's ``typechecking`` module."""

import array as _array
import typing as _typing

Record = _typing.TypeVar("Record")
Dataset = _typing.Sequence[_typing.Any]
FloatArrayType = _array.array
IntArrayType = _array.array
CandidatePairs = _typing.Tuple[
    FloatArrayType, _typing.Tuple[IntArrayType, ...], _typing.Tuple[IntArrayType, ...]
]
BlockingFunction = _typing.Callable[[int, int, _typing.Any], _typing.Iterable[_typing.Hashable]]
SimilarityFunction = _typing.Callable[..., _typing.Tuple[FloatArrayType, _typing.Sequence[IntArrayType]]]
DatasetAndRecordIndex = _typing.Tuple[int, int]
MatchGroups = _typing.Sequence[_typing.Sequence[DatasetAndRecordIndex]]
