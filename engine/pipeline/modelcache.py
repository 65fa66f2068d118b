"""Loaded models kept warm across jobs (the service holds one cache per worker).

Loading 1-2 GB of weights per request would make the add-on unusable, so models are cached by
(kind, file, mtime) and evicted least-recently-used when their memory passes ``max_bytes``.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.pipeline.device import resolve_device_name

if TYPE_CHECKING:
    import torch

MEMO_ENTRIES = 16


class BoundedMemo:
    """A tiny thread-safe LRU mapping (``in``, ``[]``, ``[]=``, ``get``, ``len``) for ModelCache.memo."""

    def __init__(self, max_entries: int = MEMO_ENTRIES) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._items

    def __getitem__(self, key):
        with self._lock:
            self._items.move_to_end(key)
            return self._items[key]

    def get(self, key, default=None):
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def __setitem__(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def module_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


CANCEL_POLL_S = 0.05
"""How often a cancellable wait looks at its cancel event."""


def unless_cancelled(call: Callable[[], object], cancel: threading.Event, what: str):
    """``call()``'s result, or JobCancelled as soon as ``cancel`` is set (checked every ``CANCEL_POLL_S``).

    The call runs on a daemon thread and is never interrupted: after a cancel it finishes on its own and
    its result (or error) is dropped here; ``ModelCache`` keeps a model it loads that way."""
    from engine.errors import JobCancelled

    if cancel.is_set():
        raise JobCancelled("job cancelled", "")
    box: dict = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the waiting thread below (or dropped after a cancel)
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=what, daemon=True).start()
    while not done.wait(CANCEL_POLL_S):
        if cancel.is_set():
            raise JobCancelled("job cancelled", "")
    if "error" in box:
        raise box["error"]
    return box["result"]


class ModelCache:
    """An LRU of loaded modules; ``loads`` counts real loads per model name (tests read it)."""

    def __init__(self, device: str = "auto", max_bytes: int | None = None) -> None:
        self.device_name = resolve_device_name(device)  # a bad or absent device fails here, as before
        """``cpu``, ``cuda`` or ``cuda:N``: known without torch on a CPU-only build (a classic job needs no more)."""
        self._device: torch.device | None = None
        self.max_bytes = max_bytes if max_bytes is not None else 8 * 1024**3
        self.loads: Counter[str] = Counter()
        self._entries: OrderedDict[tuple, tuple[torch.nn.Module, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.memo = BoundedMemo()
        """Small per-cache results worth keeping between calls (e.g. shot analyses for previews);
        bounded LRU, so a long-lived engine previewing many shots does not grow without limit."""

    @property
    def device(self) -> torch.device:
        """The torch device (importing torch on first use: only a VToonify job asks)."""
        if self._device is None:
            import torch

            self._device = torch.device(self.device_name)
        return self._device

    @property
    def device_type(self) -> str:
        """``cpu`` or ``cuda``, without torch."""
        return self.device_name.partition(":")[0]

    def get(self, kind: str, path: str, loader: Callable[[str], torch.nn.Module],
            cancel: threading.Event | None = None) -> torch.nn.Module:
        """Return the model in ``path`` on this cache's device, loading it once.

        With ``cancel`` (a service job's event) the load runs on a thread of its own and a cancel ends the
        wait at once (JobCancelled) instead of when the load does: a 1.2 GB pSp encoder takes 2.5-7 s to
        check, unpickle and move, none of which can stop midway. The load itself runs on and lands in the
        cache, where the next job that needs the model finds it warm."""
        from engine.models.checkpoints import check_model_file

        check_model_file(path)  # a dangling link or a folder is a bad model file, not an internal error
        stat = os.stat(path)
        key = (kind, os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
        if cancel is None:
            return self._get(key, kind, path, loader)
        return unless_cancelled(lambda: self._get(key, kind, path, loader), cancel, f"{kind} load")

    def _get(self, key: tuple, kind: str, path: str, loader: Callable[[str], torch.nn.Module]) -> torch.nn.Module:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
            module = loader(path).to(self.device).eval()
            size = module_bytes(module)
            self._entries[key] = (module, size)
            self.loads[f"{kind}:{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}"] += 1
            self._evict()
            return module

    def _evict(self) -> None:
        evicted = False
        while len(self._entries) > 1 and self.memory_bytes > self.max_bytes:
            self._entries.popitem(last=False)
            evicted = True
        if evicted:
            self._return_gpu_memory()

    def release(self, kind: str) -> int:
        """Drop every cached model of ``kind`` (e.g. the 1 GB pSp encoder once a shot's style code
        exists); returns how many were dropped. A later ``get`` loads it again."""
        with self._lock:
            keys = [k for k in self._entries if k[0] == kind]
            for key in keys:
                del self._entries[key]
        if keys:
            self._return_gpu_memory()
        return len(keys)

    def _return_gpu_memory(self) -> None:
        """Give freed blocks back to the driver only after an eviction (not on every load: emptying
        the caching allocator each time makes the next allocations slow)."""
        if self.device_type == "cuda":
            import torch

            torch.cuda.empty_cache()

    @property
    def memory_bytes(self) -> int:
        return sum(size for _, size in self._entries.values())

    def stats(self) -> dict:
        with self._lock:
            return {
                "device": self.device_name,
                "loads": dict(self.loads),
                "total_loads": sum(self.loads.values()),
                "models": [f"{k[0]}:{k[1]}" for k in self._entries],
                "memory_bytes": self.memory_bytes,
            }
