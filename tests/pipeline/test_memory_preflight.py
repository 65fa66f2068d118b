"""The memory preflight of ``--faces all`` (engine/pipeline/memory.py): the available and total memory
are faked through ``memory_figures`` (the one function that reads them), never by exhausting RAM."""

from __future__ import annotations

import pytest

from engine.errors import EXIT_RETRY, EXIT_USER_ERROR, ConfigError, DeviceOutOfMemoryError
from engine.pipeline import memory

MB = 2**20
GIB = 2**30
# VToonify-D at fp32: ~320 MB network per face; models loaded ~1.2 GiB; ~0.4 GiB per frame
PER_FACE, RESIDENT, WORKING = 320 * MB, int(1.2 * GIB), int(0.4 * GIB)


def _figures(monkeypatch, available, total):
    monkeypatch.setattr(memory, "memory_figures", lambda device: (available, total))


def _check(faces=8, precision="fp32", per_face=PER_FACE):
    memory.check_face_networks("cpu", faces, per_face, built=1, working=WORKING, resident=RESIDENT,
                               precision=precision)


def test_faces_that_fit_pass(monkeypatch):
    _figures(monkeypatch, available=7 * PER_FACE + WORKING, total=5 * GIB)           # 1.2 + 2.5 + 0.4 < 5 GiB
    _check()
    _figures(monkeypatch, available=None, total=None)                                # unknown: never refuse
    _check(faces=32)


def test_a_machine_too_small_for_the_job_is_exit_2_with_the_faces_that_fit(monkeypatch):
    _figures(monkeypatch, available=3 * GIB, total=3 * GIB)
    with pytest.raises(ConfigError) as caught:
        _check()
    error = caught.value
    assert not isinstance(error, DeviceOutOfMemoryError)
    assert error.message == ("8 faces need about 4.1 GiB of CPU memory (320 MiB network per face at fp32, "
                             "410 MiB per frame, 1.2 GiB models), more than the 3.0 GiB this machine has")
    fit = (3 * GIB - RESIDENT - WORKING) // PER_FACE                                  # 4 networks fit
    assert fit == 4 and error.fix == ("use --max-faces 4 to keep the faces seen most often, or --precision bf16 "
                                      "to halve the network memory, or a machine with more memory")
    with pytest.raises(ConfigError) as caught:                                        # bf16 already: no bf16 hint
        _check(faces=16, precision="bf16", per_face=PER_FACE // 2)
    assert "--precision" not in caught.value.fix and "--max-faces" in caught.value.fix
    _figures(monkeypatch, available=GIB, total=GIB)                                   # not even the models fit
    with pytest.raises(ConfigError) as caught:
        _check()
    assert caught.value.fix.startswith("use --precision bf16") and "--max-faces" not in caught.value.fix


def test_memory_held_by_others_is_exit_75(monkeypatch):
    _figures(monkeypatch, available=2 * GIB, total=16 * GIB)
    with pytest.raises(DeviceOutOfMemoryError) as caught:
        _check()
    assert "2.6 GiB more is needed but only 2.0 GiB is free now" in caught.value.message  # 7 networks + a frame
    assert caught.value.fix.startswith("retry when other jobs have freed memory")


@pytest.mark.parametrize(("figures", "error"),
                         [((GIB, GIB), ConfigError), ((GIB, 64 * GIB), DeviceOutOfMemoryError)],
                         ids=["never_fits", "held_by_others"])
def test_an_output_frame_too_large_is_exit_2_only_when_it_can_never_fit(figures, error, monkeypatch):
    """A 2 GiB output frame (48 bytes a pixel): on a 1 GiB machine a config error with the given fix; on a
    64 GiB machine with 1 GiB free now a retry (exit 75) that keeps that fix as the alternative."""
    from engine.failures import exit_code_for
    from engine.pipeline.outputs import check_frame_memory

    _figures(monkeypatch, *figures)
    with pytest.raises(error) as caught:
        check_frame_memory(8192, 5462, "use --scale 0.5 or less", "--scale 8 on a 1024x683 plate")
    assert exit_code_for(caught.value) == (EXIT_RETRY if error is DeviceOutOfMemoryError else EXIT_USER_ERROR)
    text = caught.value.user_message
    assert text.startswith("--scale 8 on a 1024x683 plate makes 8192x5462 output frames that need about 2.0 GiB")
    assert ("1.0 GiB is free now" in text) == (error is DeviceOutOfMemoryError), text
    assert text.endswith("use --scale 0.5 or less)"), text
    _figures(monkeypatch, 3 * GIB, 64 * GIB)                                          # fits now: no error
    check_frame_memory(8192, 5462, "use --scale 0.5 or less")
    _figures(monkeypatch, None, None)                                                 # unknown: never refuse
    check_frame_memory(8192, 5462, "use --scale 0.5 or less")


def test_working_memory_counts_the_output_frame_only_where_it_shares_the_memory():
    import torch

    crop, plate = 512 * 512, 1920 * 1080
    gpu = memory.working_bytes(torch.device("cuda", 0), crop, plate)
    assert gpu == 128 * MB + crop * 4096                                   # 1.1 GiB: above the 1.0 GiB measured
    assert memory.working_bytes(torch.device("cpu"), crop, plate) == gpu + plate * 48


def test_cpu_figures_read_meminfo_and_a_cgroup_limit(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16384000 kB\nMemFree:  1000 kB\nMemAvailable:    8192000 kB\n")
    no_cgroup = tmp_path / "none"
    assert memory.cpu_memory_figures(str(meminfo), str(no_cgroup)) == (8192000 * 1024, 16384000 * 1024)
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{4 * GIB}\n")
    (cgroup / "memory.current").write_text(f"{3 * GIB}\n")
    assert memory.cpu_memory_figures(str(meminfo), str(cgroup)) == (GIB, 4 * GIB)     # the container's limit
    (cgroup / "memory.max").write_text("max\n")
    assert memory.cpu_memory_figures(str(meminfo), str(cgroup)) == (8192000 * 1024, 16384000 * 1024)
    assert memory.cpu_memory_figures(str(tmp_path / "missing"), str(no_cgroup)) == (None, None)


def _two_face_plate(media_dir, folder) -> str:
    """Two real portraits side by side on one frame 1008x384 (as test_faces.py builds its plate)."""
    import numpy as np

    from engine.io import open_source, write_png

    canvas = np.full((384, 1008, 3), 90, np.uint8)
    for name, (y, x) in (("077436.jpg", (0, 0)), ("038648.jpg", (20, 508))):
        with open_source(str(media_dir / name)) as src:
            face = src.read(src.frame_numbers[0])[:375, :500]
        canvas[y:y + face.shape[0], x:x + face.shape[1]] = face[:384 - y, :1008 - x]
    folder.mkdir()
    write_png(folder / "two.0001.png", canvas)
    return str(folder / "two.####.png")


@pytest.mark.slow
@pytest.mark.parametrize(("figures", "code"), [((1, 1), EXIT_USER_ERROR), ((1, 2**50), EXIT_RETRY)],
                         ids=["never_fits", "busy"])
def test_a_two_face_vtoonify_job_stops_before_the_second_network(figures, code, narrow_models_dir, media_dir,
                                                                 tmp_path, monkeypatch, capsys):
    """The real path: analysis, face01's network built and measured, then the refusal before face02's,
    with the CLI's exit code and no frame written."""
    import engine.models
    from engine.cli import main

    built = []
    real = engine.models.static_vtoonify
    monkeypatch.setattr(engine.models, "static_vtoonify", lambda *a, **k: built.append(1) or real(*a, **k))
    _figures(monkeypatch, *figures)
    monkeypatch.setattr("engine.pipeline.outputs.host_memory", lambda: (None, None))  # frames: not checked
    plate = _two_face_plate(media_dir, tmp_path / "plate")
    out = tmp_path / "out"
    result = main(["render", plate, "-o", str(out), "--models", str(narrow_models_dir), "--style", "narrow48",
                   "--backend", "vtoonify", "--faces", "all", "--precision", "fp32", "--padding", "32,32,32,32"])
    assert result == code and built == [1]
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: 2 faces need about ") and "network per face at fp32" in line, line
    assert not list(out.glob("*.exr")) and not list(out.glob(".*tmp*"))


def test_a_small_face_on_a_plate_is_refused_when_its_rescaled_frame_cannot_fit(tmp_path, reference_dir,
                                                                                 empty_models_dir, monkeypatch):
    """The official crop resizes the whole plate so the eyes are 64 px apart: a face 1/5 of its size on a
    480x360 plate is scale 5.05, a 2425x1819 frame (13 MB) against an 8 MB output frame. On a machine with
    10 MB that resize failed inside OpenCV as an internal error (exit 1); now it is refused before any frame
    is rendered, naming the scale and the fix."""
    import cv2
    import numpy as np

    from engine.failures import exit_code_for
    from engine.pipeline.config import RenderConfig
    from engine.pipeline.render import render

    face = cv2.imread(str(reference_dir / "preprocess" / "529_2_frame0.png"))
    plate = np.full((360, 480, 3), 100, np.uint8)
    plate[140:140 + 70, 200:200 + 75] = cv2.resize(face, (75, 70), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "wide.png"), plate)
    _figures(monkeypatch, 10 * MB, 10 * MB)
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as caught:
        render(RenderConfig(source=str(tmp_path / "wide.png"), output=str(out), format="png"))
    text = caught.value.user_message
    assert exit_code_for(caught.value) == EXIT_USER_ERROR
    assert "scales the whole frame by 5.05 to 2425x1819" in text and "crop the plate around the face" in text, text
    assert not list(out.glob("wide.*.png"))
