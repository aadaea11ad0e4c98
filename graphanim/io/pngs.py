"""A folder of PNG frames, staged and moved into place when complete."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

from .base import FrameWriter
from .paths import temp_prefix, umask

__all__ = [
    "PngFolderWriter",
]


_FRAME_NAME = re.compile(r"frame_(\d{4,})\.png")


class PngFolderWriter(FrameWriter):
    """A folder of PNG frames (``frame_0000.png``, ``frame_0001.png``, ...), e.g. for slides.

    The folder is created if its parent exists. Frames go to a hidden staging folder first and
    are moved into place only when the export completes, so a failure or Ctrl-C leaves the target
    as it was (a folder that did not exist is not created). After a successful export,
    ``frame_NNNN.png`` files left from an earlier, longer export are removed so the folder holds
    exactly this animation; other files are never touched.
    """

    suffix = "/"

    def __init__(
        self, path: str | os.PathLike[str], *, fps: float = 2, overwrite: bool | None = None
    ) -> None:
        super().__init__(path, fps=fps, overwrite=overwrite)
        self._created = False

    def setup(self) -> None:
        if self._tmp is not None:
            raise RuntimeError("PngFolderWriter is already set up")
        if self.path.exists() and not self.path.is_dir():
            raise NotADirectoryError(f"{str(self.path)!r} exists and is not a folder")
        # A new folder is staged beside its final place and renamed into it; an existing one
        # gets a staging folder inside it (the same file system, so moving frames is a rename).
        self._created = not self.path.is_dir()
        where = self.path.parent if self._created else self.path
        name = self.path.name if self._created else "frames"
        try:
            staging = tempfile.mkdtemp(prefix=temp_prefix(name), suffix=".part", dir=where)
        except OSError as err:
            if err.errno is None:  # pragma: no cover - mkdtemp's errors come from the system
                raise
            raise type(err)(
                err.errno, f"cannot create a folder in {str(where)!r} ({err.strerror})"
            ) from err
        self._tmp = Path(staging)

    def _write(self, frame: np.ndarray) -> None:
        from PIL import Image

        assert self._tmp is not None
        Image.fromarray(frame).save(self._tmp / f"frame_{self.frame_count:04d}.png", format="PNG")

    def finish(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("PngFolderWriter was not set up")
        if self.frame_count == 0:
            err = ValueError(f"no frames were written to {str(self.path)!r}")
            self.abort(err)
            raise err
        staging, self._tmp = self._tmp, None
        try:
            if self._created and not self.path.exists():
                os.chmod(staging, 0o777 & ~umask())  # mkdtemp made it private (0700)
                os.rename(staging, self.path)
                return self.path
            for k in range(self.frame_count):
                name = f"frame_{k:04d}.png"
                os.replace(staging / name, self.path / name)
            for old in sorted(self.path.iterdir()):
                match = _FRAME_NAME.fullmatch(old.name)
                if match and int(match.group(1)) >= self.frame_count and old.is_file():
                    old.unlink()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return self.path

    def abort(self, error: BaseException | None = None) -> None:
        staging, self._tmp = self._tmp, None
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
