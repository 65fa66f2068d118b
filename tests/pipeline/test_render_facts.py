"""What a VToonify render records is what its network ran.

Real ``engine render`` runs (the CLI's own code, in this process) of ``narrow_models_dir``, whose cartoon
family holds only a colour-transfer model (``vtoonify_s_d_c.pt``): such a model forces colour transfer on,
and the sidecar, the EXR header, the result and one warning must all say so.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import OpenImageIO as oiio
import torch

from engine.cli import main
from engine.models import load_exstyles, load_vtoonify
from engine.pipeline.config import RenderConfig
from engine.pipeline.modelcache import ModelCache
from engine.pipeline.selection import make_backend
from engine.pipeline.shot import job_key, legacy_job_keys, pixel_config


def _render(capsys, media_dir, models, out, *flags) -> tuple[list[dict], dict]:
    code = main(["render", str(media_dir / "529_2.mp4"), "-o", str(out), "--frames", "2", "--models", str(models),
                 "--style", "cartoon", "--backend", "vtoonify", "--device", "cpu", "--output-space", "crop",
                 "--padding", "32", "--json-progress", *flags])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-2000:]
    events = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return events, [e for e in events if e["event"] == "job_done"][-1]["result"]


def _header(path) -> dict:
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        spec = inp.spec()
        return {a.name: a.value for a in spec.extra_attribs if a.name.startswith("vtoonify/")}
    finally:
        inp.close()


def test_a_colour_transfer_only_model_is_recorded_as_colour_transfer_everywhere(capsys, media_dir,
                                                                                 narrow_models_dir, tmp_path):
    out = tmp_path / "out"
    events, result = _render(capsys, media_dir, narrow_models_dir, out)   # no --color-transfer asked

    # what the network ran: colour transfer takes all 18 latents from exemplar 26, none from the face
    sidecar = json.loads((out / "529_2.vtoonify.json").read_text())
    wplus = torch.load(out / sidecar["style_code"], weights_only=True)
    model = load_vtoonify(narrow_models_dir / "vtoonify_d_cartoon" / "vtoonify_s_d_c.pt")
    codes = load_exstyles(narrow_models_dir / "vtoonify_d_cartoon" / "exstyle_code.npy")
    exemplar = torch.as_tensor(np.asarray(codes[list(codes)[26]])).float()
    with torch.no_grad():
        expected = model.zplus2wplus(exemplar.reshape(1, -1, exemplar.shape[-1]))
    assert torch.allclose(wplus, expected, atol=1e-5)

    # ... and every record says so
    assert sidecar["style"]["color_transfer"] is True
    assert sidecar["job_settings"]["color_transfer"] is True
    assert _header(out / "529_2.0002.exr")["vtoonify/color_transfer"] == "True"
    assert result["style"]["color_transfer"] is True and result["style"]["checkpoint"] == "vtoonify_s_d_c.pt"
    said = [e["message"] for e in events if e["event"] == "warning" and "colour transfer" in e["message"]]
    assert len(said) == 1, said
    assert "--color-transfer" in said[0] and "vtoonify_s_d_c.pt" in said[0] and "on" in said[0], said
    assert said == [w for w in result["warnings"] if "colour transfer" in w]

    # asking for it explicitly gives the same pixels, so it is the same job: resumed, nothing warned
    events, again = _render(capsys, media_dir, narrow_models_dir, out, "--color-transfer", "--resume")
    assert again["skipped"] == 1 and again["rendered"] == 0 and not again["analysed"]
    assert not [e for e in events if e["event"] == "warning" and "colour transfer" in e["message"]]


def test_a_folder_keyed_with_colour_transfer_off_by_an_earlier_engine_still_resumes(capsys, media_dir,
                                                                                   narrow_models_dir, tmp_path):
    """Earlier engines hashed colour transfer as asked (off) where the model forced it on: their sidecar and
    frames carry that key, and a resume of the same job reuses them instead of refusing the folder."""
    out = tmp_path / "out"
    _render(capsys, media_dir, narrow_models_dir, out)
    sidecar_path = out / "529_2.vtoonify.json"
    sidecar = json.loads(sidecar_path.read_text())
    config = RenderConfig(source=str(media_dir / "529_2.mp4"), output=str(out), frames="2", style="cartoon",
                          models_dir=str(narrow_models_dir), backend="vtoonify", device="cpu",
                          output_space="crop", padding=(32, 32, 32, 32))
    cache = ModelCache("cpu")
    backend, _ = make_backend(config, cache)
    earlier = job_key(dataclasses.replace(pixel_config(config, backend), color_transfer=False), "vtoonify",
                      backend.model_files(), "cpu")
    assert earlier != sidecar["job_key"] and earlier in legacy_job_keys(config, backend, cache)
    # rewrite the folder as an earlier engine left it: its key in the sidecar and in the frame's stamp
    frame = out / "529_2.0002.exr"
    image = oiio.ImageBuf(str(frame))
    image.specmod().attribute("vtoonify/job", earlier)
    assert image.write(str(tmp_path / "old.exr"))
    (tmp_path / "old.exr").replace(frame)
    sidecar_path.write_text(json.dumps({**sidecar, "job_key": earlier}))

    _, again = _render(capsys, media_dir, narrow_models_dir, out, "--resume")
    assert again["skipped"] == 1 and again["rendered"] == 0 and not again["analysed"]
    assert json.loads(sidecar_path.read_text())["job_key"] == earlier
