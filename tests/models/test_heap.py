"""engine.models.heap: inside ``reused_heap`` a frame's freed feature maps are reused by the next
frame instead of coming back as fresh, page-faulted memory; outside, glibc's defaults apply."""

from __future__ import annotations

import resource
import sys

import pytest
import torch
from torch.nn import functional as F

from engine.models.heap import reused_heap

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc heap setting (Linux)")


@torch.inference_mode()
def frame_faults(x: torch.Tensor, w: torch.Tensor) -> int:
    """Minor page faults of one 'frame': convs over 16 MiB feature maps and a 2x upsample (64 MiB),
    allocated and freed as the network's are."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    y = x
    for _ in range(4):
        y = F.leaky_relu_(F.conv2d(y, w, padding=1), 0.2)
    z = F.interpolate(y, scale_factor=2.0)
    del y, z
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_frames_reuse_freed_pages_inside_and_fault_them_in_again_outside():
    x = torch.randn(1, 16, 512, 512).contiguous(memory_format=torch.channels_last)
    w = torch.randn(16, 16, 3, 3).contiguous(memory_format=torch.channels_last)
    upsampled_pages = (16 * 1024 * 1024 * 4) // resource.getpagesize()
    frame_faults(x, w)
    assert min(frame_faults(x, w) for _ in range(2)) > upsampled_pages // 2  # default: fresh pages each frame
    with reused_heap() as active:
        assert active
        frame_faults(x, w)  # the first frame grows the heap
        inside = [frame_faults(x, w) for _ in range(2)]
        with reused_heap():  # nested (a service running two CPU jobs): still on
            inside.append(frame_faults(x, w))
    assert max(inside) < upsampled_pages // 20
    assert min(frame_faults(x, w) for _ in range(2)) > upsampled_pages // 2  # defaults are back

