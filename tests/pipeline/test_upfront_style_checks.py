"""Settings the models folder decides are refused before the shot is analysed.

A style id past the exemplar codes file, or a codes file of another model's shape, used to be found only
once the face search and pSp had run (about 30 s on a real shot). Here the analysis (face search, pSp) and
the frame reader are replaced by tripwires: the refusal comes without either, from the CLI and from a
service job, with the valid range and the fix.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.errors import ConfigError
from engine.service.jobs import JobQueue

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "service"))
from test_jobs import Recorder


@pytest.fixture()
def tripwires(monkeypatch):
    """Fail the test if the shot analysis starts or any frame is decoded."""
    import engine.face
    import engine.pipeline.shot as shot
    from engine.io.base import FrameSource

    def tripped(*_args, **_kwargs):
        raise AssertionError("the shot was analysed / a frame decoded before the refusal")

    monkeypatch.setattr(shot, "analyse_shot", tripped)
    monkeypatch.setattr(engine.face, "find_landmarks", tripped)
    for name in ("read", "read_many"):
        for cls in (FrameSource, *FrameSource.__subclasses__()):
            if name in vars(cls):
                monkeypatch.setattr(cls, name, tripped)


def _cli(capsys, media_dir, models, out, *flags) -> tuple[int, str]:
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "2", "--models", str(models),
                 "--style", "cartoon", "--backend", "vtoonify", "--device", "cpu", "--output-space", "crop",
                 "--padding", "32", *flags])
    return code, capsys.readouterr().err


def test_a_style_id_past_the_codes_file_is_refused_before_analysis(capsys, media_dir, narrow_models_dir, tmp_path,
                                                                   tripwires):
    code, err = _cli(capsys, media_dir, narrow_models_dir, tmp_path / "out", "--style-id", "30")
    assert code == 2, err
    assert "style id 30 (--style-id 30) is out of range for cartoon: exstyle_code.npy holds 30 exemplar codes, " \
           "ids 0 to 29" in err, err
    assert "--style-id from 0 to 29" in err and "--exstyle-image" in err, err
    assert not (tmp_path / "out").exists()  # nothing written, not even the folder


def test_a_service_job_with_a_style_id_past_the_codes_file_is_refused_at_submit(media_dir, narrow_models_dir,
                                                                                 tmp_path, tripwires):
    """Refused in the reply to the submit (tests/service/test_submit_refusals.py: over the socket), never queued."""
    events = Recorder()
    queue = JobQueue(events, state_dir=tmp_path / "state", default_device="cpu")
    try:
        with pytest.raises(ConfigError) as refused:
            queue.submit({"source": str(media_dir / "529_2.mp4"), "output": str(tmp_path / "out"), "frames": "2",
                          "models_dir": str(narrow_models_dir), "style": "cartoon", "backend": "vtoonify",
                          "style_id": 99, "padding": [32, 32, 32, 32]})
        assert queue.list() == []
    finally:
        queue.close()
    error = refused.value.to_dict()
    assert error["code"] == "bad_config", error
    assert "'style_id': 99" in error["message"] and "ids 0 to 29" in error["message"], error
    assert "'style_id' from 0 to 29" in error["fix"], error


def test_a_codes_file_of_another_shape_is_refused_before_analysis(capsys, media_dir, narrow_models_dir, tmp_path,
                                                                  tripwires):
    models = tmp_path / "models"
    shutil.copytree(narrow_models_dir, models)
    codes = {f"Cartoons_{i:05d}.jpg": np.zeros((1, 10, 512), np.float32) for i in range(30)}
    np.save(models / "vtoonify_d_cartoon" / "exstyle_code.npy", np.array(codes, dtype=object), allow_pickle=True)
    code, err = _cli(capsys, media_dir, models, tmp_path / "out")
    assert code == 2, err
    assert "style code 'Cartoons_00026.jpg' is [1, 10, 512], but vtoonify_s_d_c.pt takes [1, 18, 512]" in err, err


def test_the_tripwires_do_trip_when_the_settings_are_fine(capsys, media_dir, narrow_models_dir, tmp_path, tripwires):
    """The same job with a valid style id reaches the analysis: the tripwires above are really on its path."""
    code, err = _cli(capsys, media_dir, narrow_models_dir, tmp_path / "out", "--style-id", "29")
    assert code != 0 and "the shot was analysed / a frame decoded before the refusal" in err, err


def test_an_exemplar_photo_without_a_face_is_refused_before_the_shot_is_searched(capsys, media_dir, narrow_models_dir,
                                                                               tmp_path, monkeypatch):
    """The exemplar's face used to be looked for only after the source's face search (minutes on a long shot),
    then said as a bare 'no face found in the exemplar image'. Now it is looked for when the job starts,
    and the refusal names the file, the setting and the fix."""
    import OpenImageIO as oiio

    import engine.pipeline.shot as shot

    def tripped(*_args, **_kwargs):
        raise AssertionError("the source's face search started before the exemplar was checked")

    monkeypatch.setattr(shot, "analyse_shot", tripped)
    photo = tmp_path / "wall.png"
    assert oiio.ImageBuf(np.full((256, 256, 3), 0.5, np.float32)).write(str(photo))
    code, err = _cli(capsys, media_dir, narrow_models_dir, tmp_path / "out", "--exstyle-image", str(photo))
    assert code == 2, err
    assert f"no face found in the exemplar image {photo} (--exstyle-image)" in err, err
    assert "give a photo with one clear, frontal face as --exstyle-image, or leave --exstyle-image out" in err, err
    assert not (tmp_path / "out").exists()
