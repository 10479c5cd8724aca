"""The one provider interface, and the normalised shapes every adapter returns.

Naming follows aifaceswap: ``source`` is the picture whose face is replaced, ``face`` is the face
put in. Above the adapters no code knows a provider's field names or status words.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from swapgate.errors import FaceIndexOutOfRange, InvalidRequest, OperationNotSupported

if TYPE_CHECKING:
    from swapgate.providers.registry import ProviderSpec


class ProviderState(StrEnum):
    """A provider job's state, as every adapter reports it."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (ProviderState.SUCCEEDED, ProviderState.FAILED)


class Operation(StrEnum):
    SWAP = "swap"
    MULTI_SWAP = "multi_swap"
    EXTRACT_FACES = "extract_faces"
    FETCH = "fetch"


@dataclass(frozen=True)
class ImageInput:
    """An image given either as a URL or as bytes. Bytes never show in reprs or logs."""

    url: str | None = None
    data: bytes | None = field(default=None, repr=False)
    filename: str = "image"
    content_type: str = "application/octet-stream"

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise InvalidRequest("an image is either a URL or bytes, not both or neither")

    @classmethod
    def from_url(cls, url: str) -> ImageInput:
        return cls(url=url)

    @classmethod
    def from_bytes(
        cls, data: bytes, filename: str = "image", content_type: str = "application/octet-stream"
    ) -> ImageInput:
        return cls(data=data, filename=filename, content_type=content_type)

    def __repr__(self) -> str:
        if self.url is not None:
            return f"ImageInput(url={self.url!r})"
        return f"ImageInput(<{len(self.data or b'')} bytes>, filename={self.filename!r})"


@dataclass(frozen=True)
class ProviderJob:
    """A provider job in the normalised shape."""

    provider: str
    job_id: str
    state: ProviderState
    result_url: str | None = None
    cost: int | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class FaceBoxes:
    """Faces found in an image: ``[x1, y1, x2, y2]`` boxes in pixels from the top-left corner."""

    faces: list[list[int]]
    cost: int | None = None


class Provider(ABC):
    """A face-swap provider. Subclasses implement the operations they list in ``operations``.

    An adapter sets ``spec`` (its entry in the registry's ``PROVIDERS``); its ``name``, ``operations``
    and ``accepts_bytes`` are taken from it, so they are written once.
    """

    spec: ClassVar[ProviderSpec | None] = None
    name: str = ""
    operations: frozenset[Operation] = frozenset()
    #: whether the provider can read image bytes directly (otherwise the app hosts them as URLs)
    accepts_bytes: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.spec is not None:
            cls.name = cls.spec.name
            cls.operations = cls.spec.operations
            cls.accepts_bytes = cls.spec.accepts_bytes

    def supports(self, operation: Operation) -> bool:
        return operation in self.operations

    def _unsupported(self, operation: Operation) -> OperationNotSupported:
        return OperationNotSupported(f"provider {self.name!r} does not support {operation.value}")

    @abstractmethod
    def swap(self, source: ImageInput, face: ImageInput, webhook_url: str | None = None) -> ProviderJob:
        """Start a single face swap: the face in ``face`` goes into ``source``."""

    def multi_swap(
        self,
        source: ImageInput,
        faces: Sequence[ImageInput],
        indexes: Sequence[int],
        webhook_url: str | None = None,
    ) -> ProviderJob:
        """Start a multi-face swap: ``faces[i]`` replaces the face at ``indexes[i]`` in ``source``."""
        raise self._unsupported(Operation.MULTI_SWAP)

    def extract_faces(self, image: ImageInput) -> FaceBoxes:
        """Find the faces in an image."""
        raise self._unsupported(Operation.EXTRACT_FACES)

    def fetch(self, job_id: str) -> ProviderJob:
        """Ask the provider for a job's current state."""
        raise self._unsupported(Operation.FETCH)

    @abstractmethod
    def parse_webhook(self, body: bytes | str | dict[str, Any]) -> ProviderJob:
        """Read a provider's webhook body into the normalised shape."""


def check_indexes(indexes: Sequence[int], faces: int) -> list[int]:
    """The face indexes of a multi-face swap, checked: one per face image, integers, 0 or more, none
    repeated. (Whether an index names a face of the source only the provider can tell.)"""
    if faces < 1:
        raise InvalidRequest("at least one face image is required", field="faces")
    indexes = list(indexes)
    if len(indexes) != faces:
        raise InvalidRequest("give one face index per face image", field="indexes")
    for index in indexes:
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidRequest("face indexes are integers", field="indexes")
        if index < 0:
            raise FaceIndexOutOfRange("face indexes start at 0", field="indexes")
    if len(set(indexes)) != len(indexes):
        raise InvalidRequest("each face index may be given once", field="indexes")
    return indexes
