"""Models-folder inventory, checkpoint choice, default folder, and `models fetch` against a real
loopback HTTP server (redirect with X-Linked-Etag as Hugging Face sends it, Range resume, cuts)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.errors import ModelFileError, OfflineError
from engine.models.fetch import SUMS_FILE, fetch_models, read_sums, verify_models
from engine.models.inventory import (
    default_models_dir,
    official_files,
    parse_checkpoint_name,
    pick_checkpoint,
    scan_models,
)

# --- inventory ------------------------------------------------------------------------------------

LAYOUT = [
    "encoder.pt",
    "faceparsing.pth",
    "vtoonify_d_cartoon/vtoonify_s_d.pt",
    "vtoonify_d_cartoon/vtoonify_s026_d0.5.pt",
    "vtoonify_d_cartoon/exstyle_code.npy",
    "vtoonify_d_illustration/vtoonify_s054_d_c.pt",
    "vtoonify_d_illustration/exstyle_code.npy",
    "vtoonify_d_comic/exstyle_code.npy",  # no checkpoint: unusable
    "vtoonify_t_arcane/vtoonify.pt",
    "vtoonify_d_mystyle/vtoonify_s_d_c.pt",  # a custom family, no exstyle codes
]


@pytest.fixture
def models_dir(tmp_path):
    for rel in LAYOUT:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path


def test_scan_lists_usable_families_and_what_is_missing(models_dir):
    inventory = scan_models(models_dir)
    usable = {(f.style, f.backbone) for f in inventory.usable_families()}
    assert usable == {("cartoon", "dualstylegan"), ("illustration", "dualstylegan"), ("arcane", "toonify")}
    comic = inventory.family("comic", "d")
    assert comic.missing == ("vtoonify_d_comic/vtoonify_s_d.pt",) and not comic.usable
    assert inventory.family("mystyle", "dualstylegan").missing == ("vtoonify_d_mystyle/exstyle_code.npy",)
    assert inventory.family("pixar", "toonify").missing == ("vtoonify_t_pixar/vtoonify.pt",)
    cartoon = inventory.family("cartoon", "dualstylegan")
    assert [c.relpath for c in cartoon.checkpoints] == [
        "vtoonify_d_cartoon/vtoonify_s026_d0.5.pt",
        "vtoonify_d_cartoon/vtoonify_s_d.pt",
    ]
    payload = json.loads(json.dumps(inventory.to_dict()))  # what the service sends
    assert "cartoon/dualstylegan" in payload["usable"] and payload["shared_missing"] == []


def test_missing_shared_file_blocks_every_family(models_dir):
    (models_dir / "encoder.pt").unlink()
    inventory = scan_models(models_dir)
    assert inventory.shared_missing == ("encoder.pt",) and not inventory.usable_families()
    with pytest.raises(ModelFileError, match=r"missing encoder\.pt") as info:
        pick_checkpoint(inventory, "cartoon", "dualstylegan")
    assert "models fetch" in info.value.fix


def test_checkpoint_names_parse():
    fixed = parse_checkpoint_name("vtoonify_d_cartoon/vtoonify_s026_d0.5.pt")
    assert (fixed.style_id, fixed.degree, fixed.color_transfer) == (26, 0.5, False)
    general = parse_checkpoint_name("x/vtoonify_s_d_c.pt")
    assert (general.style_id, general.degree, general.color_transfer) == (None, None, True)
    assert parse_checkpoint_name("x/pretrain.pt") is None


def test_pick_prefers_dedicated_model_then_general(models_dir):
    inventory = scan_models(models_dir)
    exact = pick_checkpoint(inventory, "cartoon", "dualstylegan", style_id=26, degree=0.5)
    assert Path(exact.checkpoint).name == "vtoonify_s026_d0.5.pt"
    assert exact.exstyle_codes == str(models_dir / "vtoonify_d_cartoon/exstyle_code.npy")
    assert exact.encoder == str(models_dir / "encoder.pt")
    assert (
        Path(pick_checkpoint(inventory, "cartoon", "d", style_id=26, degree=0.8).checkpoint).name
        == "vtoonify_s_d.pt"
    )
    assert (
        Path(pick_checkpoint(inventory, "cartoon", "d", style_id=3, degree=0.5).checkpoint).name
        == "vtoonify_s_d.pt"
    )
    custom = pick_checkpoint(inventory, "cartoon", "d", style_id=None, degree=0.5)  # own exemplar image
    assert Path(custom.checkpoint).name == "vtoonify_s_d.pt"
    toonify = pick_checkpoint(inventory, "arcane", "toonify", style_id=5, degree=0.1, color_transfer=True)
    assert Path(toonify.checkpoint).name == "vtoonify.pt" and toonify.exstyle_codes is None
    assert json.loads(json.dumps(toonify.to_dict()))["backbone"] == "toonify"


def test_pick_colour_transfer_rules(models_dir):
    inventory = scan_models(models_dir)
    with pytest.raises(ModelFileError, match="colour transfer"):
        pick_checkpoint(inventory, "cartoon", "dualstylegan", style_id=26, degree=0.5, color_transfer=True)
    forced = pick_checkpoint(inventory, "illustration", "dualstylegan", style_id=54, degree=0.3)
    assert forced.color_transfer and "colour-transfer models" in forced.note
    with pytest.raises(ModelFileError, match="style id 4"):
        pick_checkpoint(inventory, "illustration", "dualstylegan", style_id=4, degree=0.3)
    with pytest.raises(ModelFileError, match="unknown style family 'noir'"):
        pick_checkpoint(inventory, "noir", "dualstylegan")


def test_default_models_dir_per_platform(tmp_path):
    home = tmp_path / "home"
    assert default_models_dir({"VTOONIFY_MODELS": "/data/m"}, "linux", home) == Path("/data/m")
    assert default_models_dir({}, "linux", home) == home / ".local/share/vtoonify/models"
    assert default_models_dir({"XDG_DATA_HOME": "/xdg"}, "linux", home) == Path("/xdg/vtoonify/models")
    assert default_models_dir({}, "darwin", home) == home / "Library/Application Support/vtoonify/models"
    assert default_models_dir({"LOCALAPPDATA": "/la"}, "win32", home) == Path("/la/vtoonify/models")


def test_official_file_list_for_one_family():
    files = official_files("cartoon", "dualstylegan")
    assert files[:2] == ["encoder.pt", "faceparsing.pth"]
    assert "vtoonify_d_cartoon/exstyle_code.npy" in files and "vtoonify_d_cartoon/vtoonify_s_d.pt" in files
    assert all(f.startswith("vtoonify_d_cartoon/") for f in files[2:])


# --- fetch against a loopback server ---------------------------------------------------------------


class FakeHub:
    """A tiny Hugging Face look-alike: /resolve/<rel> answers 302 with ``X-Linked-Etag`` (the LFS
    sha256, or a deliberately wrong one) to /cdn/<rel>, which serves bytes with Range support and can
    cut the connection after ``cut_after`` bytes on its first response."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.wrong_etag: set[str] = set()
        self.cut_after: dict[str, int] = {}
        self.range_headers: list[str | None] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                kind, _, rel = self.path.lstrip("/").partition("/")
                data = hub.files.get(rel)
                if data is None:
                    self.send_error(404)
                    return
                if kind == "resolve":
                    digest = "0" * 64 if rel in hub.wrong_etag else hashlib.sha256(data).hexdigest()
                    self.send_response(302)
                    self.send_header("Location", f"/cdn/{rel}")
                    self.send_header("X-Linked-Etag", f'"{digest}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                requested = self.headers.get("Range")
                hub.range_headers.append(requested)
                start = int(requested.split("=")[1].rstrip("-")) if requested else 0
                body = data[start:]
                self.send_response(206 if requested else 200)
                if requested:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"not-a-sha"')
                self.end_headers()
                cut = hub.cut_after.pop(rel, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/resolve/"


@pytest.fixture
def hub():
    rng_bytes = b"PK\x03\x04" + os.urandom(700_000 - 4)  # starts like torch.save's zip archive
    server = FakeHub({"encoder.pt": rng_bytes, "vtoonify_d_cartoon/exstyle_code.npy": b"\x93NUMPY" + b"codes" * 1000})
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_fetch_downloads_verifies_and_records(hub, tmp_path):
    seen: list[tuple[str, int, int | None]] = []
    results = fetch_models(
        tmp_path,
        ["encoder.pt", "vtoonify_d_cartoon/exstyle_code.npy"],
        base_url=hub.base_url,
        progress=lambda rel, done, total: seen.append((rel, done, total)),
        chunk_bytes=65536,
    )
    assert [r.verified for r in results] == [True, True]
    for rel, data in hub.files.items():
        assert (tmp_path / rel).read_bytes() == data
        assert read_sums(tmp_path)[rel] == hashlib.sha256(data).hexdigest()
    encoder_progress = [s for s in seen if s[0] == "encoder.pt"]
    assert encoder_progress[-1] == ("encoder.pt", 700_000, 700_000) and len(encoder_progress) > 5
    assert not list(tmp_path.rglob("*.part"))
    assert [v.status for v in verify_models(tmp_path)] == ["ok", "ok"]

    again = fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)
    assert again[0].skipped and len(hub.range_headers) == 2  # nothing downloaded the second time

    (tmp_path / "encoder.pt").write_bytes(b"tampered")
    (tmp_path / "vtoonify_d_cartoon/exstyle_code.npy").unlink()
    assert {v.relpath: v.status for v in verify_models(tmp_path)} == {
        "encoder.pt": "mismatch",
        "vtoonify_d_cartoon/exstyle_code.npy": "missing",
    }


def test_fetch_resumes_after_a_cut(hub, tmp_path):
    hub.cut_after["encoder.pt"] = 250_000
    with pytest.raises(OfflineError, match="interrupted after 250000 of 700000 bytes") as info:
        fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)
    assert "again to resume" in info.value.fix
    part = tmp_path / "encoder.pt.part"
    assert part.stat().st_size == 250_000 and not (tmp_path / "encoder.pt").exists()

    result = fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)[0]
    assert hub.range_headers == [None, "bytes=250000-"]
    assert (tmp_path / "encoder.pt").read_bytes() == hub.files["encoder.pt"]
    assert result.verified and not part.exists()


def test_checksum_mismatch_is_rejected_and_leaves_nothing(hub, tmp_path):
    with pytest.raises(ModelFileError, match=r"checksum mismatch for encoder\.pt"):
        fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url, checksums={"encoder.pt": "ab" * 32})
    hub.wrong_etag.add("vtoonify_d_cartoon/exstyle_code.npy")
    with pytest.raises(ModelFileError, match=r"expected sha256 0{64}"):
        fetch_models(tmp_path, ["vtoonify_d_cartoon/exstyle_code.npy"], base_url=hub.base_url)
    assert list(tmp_path.rglob("*")) == []  # no file, no .part, no SHA256SUMS, no new folder
    assert not (tmp_path / SUMS_FILE).exists()


def test_offline_error_names_the_folder(tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OfflineError) as info:
        fetch_models(tmp_path, ["encoder.pt"], base_url=f"http://127.0.0.1:{port}/models/", timeout_s=5)
    assert f"cannot reach 127.0.0.1:{port}" in info.value.message
    assert str(tmp_path) in info.value.fix and "models list" in info.value.fix


def test_an_offline_fetch_leaves_no_models_folder_it_made(tmp_path):
    """The folder (and its missing parents) was made before the first request and stayed, empty."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OfflineError):
        fetch_models(tmp_path / "studio" / "models", ["encoder.pt"], base_url=f"http://127.0.0.1:{port}/m/",
                     timeout_s=5)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept").mkdir()  # a folder that was there before stays, empty or not
    with pytest.raises(OfflineError):
        fetch_models(tmp_path / "kept", ["encoder.pt"], base_url=f"http://127.0.0.1:{port}/m/", timeout_s=5)
    assert (tmp_path / "kept").is_dir()


def test_fetch_refuses_paths_outside_the_folder(tmp_path):
    with pytest.raises(ModelFileError, match="bad model file name"):
        fetch_models(tmp_path, ["../evil.pt"], base_url="http://127.0.0.1:9/")


# --- models verify on hostile or wrong folders (#9 item 12) ----------------------------------------


def run_models_cli(*args) -> int:
    from engine.cli import main

    return main(["models", *args])


def test_verify_needs_a_real_models_folder(tmp_path, capsys):
    assert run_models_cli("verify", "--models", str(tmp_path / "nowhere")) == 2
    assert "does not exist" in capsys.readouterr().err
    a_file = tmp_path / "encoder.pt"
    a_file.write_bytes(b"x")
    assert run_models_cli("verify", "--models", str(a_file)) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert run_models_cli("verify", "--models", str(loop)) == 2
    assert "symlink loop" in capsys.readouterr().err


def test_verify_refuses_sums_entries_outside_the_folder(tmp_path, capsys):
    models, outside = tmp_path / "models", tmp_path / "secret.pt"
    models.mkdir()
    outside.write_bytes(b"not yours")
    digest = hashlib.sha256(b"not yours").hexdigest()
    (models / SUMS_FILE).write_text(f"{digest}  ../secret.pt\n{digest}  {outside}\n")
    results = {r.relpath: r.status for r in verify_models(models)}
    assert results == {"../secret.pt": "refused: outside the models folder",
                       str(outside): "refused: outside the models folder"}
    assert run_models_cli("verify", "--models", str(models)) == 2
    assert "refused" in capsys.readouterr().err


def test_verify_names_a_symlink_loop(tmp_path, capsys):
    (tmp_path / "encoder.pt").symlink_to(tmp_path / "faceparsing.pth")
    (tmp_path / "faceparsing.pth").symlink_to(tmp_path / "encoder.pt")
    (tmp_path / SUMS_FILE).write_text(f"{'0' * 64}  encoder.pt\n")
    assert {r.relpath: r.status for r in verify_models(tmp_path)} == {"encoder.pt": "symlink loop"}
    assert run_models_cli("verify", "--models", str(tmp_path)) == 2
    captured = capsys.readouterr()
    assert "symlink loop" in captured.out and "faceparsing.pth (symlink loop)" in captured.err


def test_a_link_planted_at_the_partial_download_name_is_never_written_through(hub, tmp_path):
    # Before: open(part, "wb") followed the link and overwrote its target with the download.
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    models = tmp_path / "models"
    models.mkdir()
    (models / "encoder.pt.part").symlink_to(victim)
    with pytest.raises(ModelFileError, match=r"encoder\.pt\.part \(where encoder\.pt is downloaded\) is a link") \
            as info:
        fetch_models(models, ["encoder.pt"], base_url=hub.base_url)
    assert "remove it, then run" in info.value.fix and "models fetch" in info.value.fix
    assert victim.read_bytes() == b"precious" and (models / "encoder.pt.part").is_symlink()
    assert not (models / "encoder.pt").exists()


def test_a_server_sending_more_than_any_model_file_is_cut_off_and_leaves_nothing(hub, tmp_path, monkeypatch):
    from engine.models import fetch

    monkeypatch.setattr(fetch, "MAX_DOWNLOAD_BYTES", 100_000)  # encoder.pt here is 700,000 bytes
    with pytest.raises(ModelFileError, match=r"sent more than .* for encoder\.pt, more than any model file holds"):
        fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url, chunk_bytes=65536)
    assert not list(tmp_path.rglob("encoder.pt*"))


def test_fetch_names_the_weights_licence_before_downloading(tmp_path, capsys):
    """The official weights are non-commercial (S-Lab License 1.0): a studio must read that before it has them."""
    with socket.socket() as probe:  # a loopback port nobody listens on: the download fails after the notice
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = run_models_cli("fetch", "--style", "cartoon", "--models", str(tmp_path),
                          "--base-url", f"http://127.0.0.1:{port}/models/")
    err = capsys.readouterr().err
    assert code in (2, 75)  # offline: fix-it or retry, never success
    assert "S-Lab License 1.0" in err and "non-commercial" in err
    assert err.index("S-Lab License") < err.index(f"127.0.0.1:{port}")


def test_a_login_page_served_for_every_file_is_refused_not_recorded_as_the_model(hub, tmp_path):
    # Before: a captive portal's 200 HTML page was saved as encoder.pt, recorded in SHA256SUMS (no checksum is
    # published for it) and `models verify` said ok; the render then failed on "not a PyTorch checkpoint".
    page = b"<!DOCTYPE html><html><body>Log in to the hotel Wi-Fi</body></html>"
    hub.files.update({"encoder.pt": page, "faceparsing.pth": b"Proxy error: host not allowed\n"})
    with pytest.raises(OfflineError, match=r"encoder\.pt answered with a web page \(starting b'<!DOCTYPE") as info:
        fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url.replace("/resolve/", "/cdn/"))
    assert "Wi-Fi login page" in info.value.fix and "--base-url" in info.value.fix
    with pytest.raises(OfflineError, match=r"answered with data that is not a \.pth file \(starting b'Proxy"):
        fetch_models(tmp_path, ["faceparsing.pth"], base_url=hub.base_url.replace("/resolve/", "/cdn/"))
    assert list(tmp_path.rglob("*")) == []  # no file, no .part, no SHA256SUMS


def test_a_sums_file_naming_a_latin1_file_verifies_it_and_keeps_its_bytes(hub, tmp_path):
    # Before: `sha256sum *` output naming a Latin-1 file made read_sums raise UnicodeDecodeError: verify, list
    # and fetch all ended in "internal error".
    name = b"caf\xe9.pt"
    (tmp_path / os.fsdecode(name)).write_bytes(b"PK\x03\x04 mine")
    line = hashlib.sha256(b"PK\x03\x04 mine").hexdigest().encode() + b"  " + name + b"\n"
    (tmp_path / SUMS_FILE).write_bytes(line)
    assert {v.relpath: v.status for v in verify_models(tmp_path)} == {os.fsdecode(name): "ok"}
    fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)  # rewrites SHA256SUMS with both
    assert line in (tmp_path / SUMS_FILE).read_bytes()


# --- a models folder the engine's user may not read or write -------------------------------------------------

needs_permissions = pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")


@pytest.fixture
def locked(tmp_path):
    """chmod a path for one test (restored after, so pytest can clean up)."""
    changed = []

    def lock(path: Path, mode: int = 0) -> Path:
        changed.append((path, path.stat().st_mode))
        path.chmod(mode)
        return path

    yield lock
    for path, mode in reversed(changed):
        path.chmod(mode)


@needs_permissions
@pytest.mark.parametrize("what", ["the folder", "a family folder"])
def test_an_unreadable_models_folder_is_named_by_list_and_verify(tmp_path, locked, capsys, what):
    # Before: "internal error: PermissionError" (exit 1) from `models list`, `models verify` and a render.
    from engine.cli import main

    models = tmp_path / "models"
    (models / "vtoonify_d_cartoon").mkdir(parents=True)
    (models / "encoder.pt").write_bytes(b"x")
    locked(models if what == "the folder" else models / "vtoonify_d_cartoon")
    for action in ("list", "verify"):
        assert main(["models", action, "--models", str(models)]) == 2
        err = capsys.readouterr().err
        assert "permission denied reading" in err and f"the models folder {models}" in err, err
        assert f"chmod -R a+rX {models}" in err and "internal error" not in err


@needs_permissions
def test_an_unreadable_model_file_is_named_unreadable_not_corrupt_or_an_internal_error(tmp_path, locked, capsys):
    from engine.cli import main
    from engine.models import load_vtoonify

    models = tmp_path / "models"
    (models / "vtoonify_t_arcane").mkdir(parents=True)
    model = models / "vtoonify_t_arcane" / "vtoonify.pt"
    model.write_bytes(b"")  # empty: only the permission check can come before the size check
    locked(model)
    encoder = models / "encoder.pt"
    encoder.write_bytes(b"PK\x03\x04")
    (models / SUMS_FILE).write_text(f"{hashlib.sha256(b'PK').hexdigest()}  encoder.pt\n")
    locked(encoder)
    with pytest.raises(ModelFileError, match=r"vtoonify\.pt cannot be read \(permission denied\)") as info:
        load_vtoonify(model)
    assert f"chmod a+r {model}" in info.value.fix
    assert main(["models", "verify", "--models", str(models)]) == 2
    captured = capsys.readouterr()
    assert "  unreadable (permission denied) encoder.pt" in captured.out
    assert "  unreadable (permission denied) vtoonify_t_arcane/vtoonify.pt" in captured.out
    assert "2 model file(s) cannot be read" in captured.err and "internal error" not in captured.err


@needs_permissions
def test_fetch_into_a_folder_it_may_not_write_says_so_not_resume_or_internal_error(hub, tmp_path, locked):
    # Before: "download ... was interrupted after 0 bytes ... run fetch again to resume" for a file at the top,
    # and "internal error: PermissionError" for one in a family folder.
    models = tmp_path / "models"
    models.mkdir()
    locked(models, 0o555)
    for relpath in ("encoder.pt", "vtoonify_d_cartoon/exstyle_code.npy"):
        with pytest.raises(ModelFileError, match=r"cannot write .* \(Permission denied\)") as info:
            fetch_models(models, [relpath], base_url=hub.base_url)
        assert "pass --models with a folder you can write" in info.value.fix
    assert list(models.iterdir()) == []


def test_fetch_never_overwrites_a_file_it_did_not_write(hub, tmp_path):
    # Before: a hand-copied encoder.pt (or a studio's own model, or a link to a shared volume) that SHA256SUMS
    # does not list was silently replaced by the download. Now a different one is kept aside, named in the result.
    (tmp_path / "encoder.pt").write_bytes(b"PK\x03\x04 my own encoder")
    elsewhere = tmp_path / "shared.npy"
    elsewhere.write_bytes(b"\x93NUMPY shared")
    (tmp_path / "vtoonify_d_cartoon").mkdir()
    (tmp_path / "vtoonify_d_cartoon" / "exstyle_code.npy").symlink_to(elsewhere)
    results = fetch_models(tmp_path, list(hub.files), base_url=hub.base_url)
    assert [Path(r.kept_as).name for r in results] == ["encoder.pt.old", "exstyle_code.npy.old"]
    assert (tmp_path / "encoder.pt.old").read_bytes() == b"PK\x03\x04 my own encoder"
    assert (tmp_path / "vtoonify_d_cartoon" / "exstyle_code.npy.old").readlink() == elsewhere
    assert elsewhere.read_bytes() == b"\x93NUMPY shared"
    for rel, data in hub.files.items():
        assert (tmp_path / rel).read_bytes() == data

    (tmp_path / "encoder.pt").unlink()  # an identical copy, or one fetch recorded, is not kept twice
    (tmp_path / "encoder.pt").write_bytes(hub.files["encoder.pt"])
    (tmp_path / SUMS_FILE).unlink()
    assert [r.kept_as for r in fetch_models(tmp_path, list(hub.files), base_url=hub.base_url)] == ["", ""]
    assert not (tmp_path / "encoder.pt.old1").exists()


def test_a_folder_where_the_file_goes_is_refused_before_downloading(hub, tmp_path):
    # Before: the whole file was downloaded, then os.replace raised IsADirectoryError (internal error) and
    # left encoder.pt.part behind.
    (tmp_path / "encoder.pt").mkdir()
    with pytest.raises(ModelFileError, match=r"encoder\.pt is a folder, where `models fetch` puts encoder\.pt"):
        fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)
    assert [p.name for p in tmp_path.iterdir()] == ["encoder.pt"] and hub.range_headers == []


def test_an_offline_fetch_leaves_no_empty_family_folder(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OfflineError):
        fetch_models(tmp_path, ["vtoonify_d_cartoon/exstyle_code.npy"], base_url=f"http://127.0.0.1:{port}/")
    assert list(tmp_path.iterdir()) == []


def test_fetch_refuses_a_recorded_file_changed_by_hand_and_replaces_it_only_when_told(hub, tmp_path, capsys):
    # Before: SHA256SUMS listed encoder.pt, so a file swapped in by hand (a studio's own encoder under the
    # official name) counted as fetch's own and was overwritten by the next fetch without a word.
    fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)
    mine = b"PK\x03\x04 retrained in the studio"
    (tmp_path / "encoder.pt").write_bytes(mine)
    recorded, actual = hashlib.sha256(hub.files["encoder.pt"]).hexdigest(), hashlib.sha256(mine).hexdigest()
    with pytest.raises(ModelFileError) as info:
        fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)
    message, fix = info.value.message, info.value.fix
    assert str(tmp_path / "encoder.pt") in message and f"sha256 {actual}" in message and recorded in message
    assert "move it aside" in fix and "--replace-modified" in fix
    assert (tmp_path / "encoder.pt").read_bytes() == mine and len(hub.range_headers) == 1  # nothing downloaded
    assert not list(tmp_path.glob("encoder.pt.*"))

    from engine.cli import main  # the CLI says the same and exits 2; with the flag the file is replaced
    cli = ["models", "fetch", "--models", str(tmp_path), "--base-url", hub.base_url]
    assert main(cli) == 2
    assert f"sha256 {actual}" in capsys.readouterr().err and (tmp_path / "encoder.pt").read_bytes() == mine
    main([*cli, "--replace-modified"])  # faceparsing.pth is not on the fake hub: only encoder.pt matters here
    assert (tmp_path / "encoder.pt").read_bytes() == hub.files["encoder.pt"]
    assert read_sums(tmp_path)["encoder.pt"] == recorded


def test_fetch_still_replaces_what_it_left_itself(hub, tmp_path):
    """A recorded file that still has its recorded checksum, and fetch's own .part, are fetch's to replace."""
    fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url)
    pinned = hashlib.sha256(hub.files["encoder.pt"]).hexdigest()
    hub.files["encoder.pt"] = b"PK\x03\x04 a newer upload" * 100
    (tmp_path / "encoder.pt.part").write_bytes(hub.files["encoder.pt"][:1000])  # a cut re-download of its own
    new = hashlib.sha256(hub.files["encoder.pt"]).hexdigest()
    result = fetch_models(tmp_path, ["encoder.pt"], base_url=hub.base_url, checksums={"encoder.pt": new})[0]
    assert not result.skipped and result.sha256 == new != pinned and not result.kept_as
    assert (tmp_path / "encoder.pt").read_bytes() == hub.files["encoder.pt"]
    assert hub.range_headers[-1] == "bytes=1000-"  # the .part was resumed, not refused


@pytest.mark.parametrize("kind", ["folder", "fifo"])
@pytest.mark.parametrize("recorded", [False, True], ids=["copied by hand", "recorded"])
def test_verify_lists_a_shared_file_that_is_a_folder_or_fifo(tmp_path, capsys, kind, recorded):
    # Before: encoder.pt as a folder or FIFO was left out of `models verify` (or called plain "missing"), and
    # the fix sent the user to a fetch that refuses it.
    path = tmp_path / "encoder.pt"
    path.mkdir() if kind == "folder" else os.mkfifo(path)
    if recorded:
        (tmp_path / SUMS_FILE).write_text(f"{'0' * 64}  encoder.pt\n")
    expected = "a folder, not a file" if kind == "folder" else "not a regular file (a FIFO, socket or device)"
    assert run_models_cli("verify", "--models", str(tmp_path)) == 2
    captured = capsys.readouterr()
    assert f"  {expected} encoder.pt" in captured.out
    assert f"encoder.pt ({expected})" in captured.err and f"move {path} away" in captured.err


@pytest.mark.parametrize("mask", [0o002, 0o077])
def test_fetched_files_and_the_sums_file_get_the_umask_mode(hub, tmp_path, mask):
    """A shared models folder (umask 002) gets 0664 model files and SHA256SUMS, as `cp` would make them:
    the sums file was 0600 (mkstemp's mode), so other users' `models verify` and renders could not read it,
    and a colleague's later fetch could not record its files."""
    models = tmp_path / "models"
    previous = os.umask(mask)
    try:
        fetch_models(models, ["encoder.pt", "vtoonify_d_cartoon/exstyle_code.npy"], base_url=hub.base_url)
    finally:
        os.umask(previous)
    for rel in (SUMS_FILE, "encoder.pt", "vtoonify_d_cartoon/exstyle_code.npy"):
        assert (models / rel).stat().st_mode & 0o777 == 0o666 & ~mask, rel
    for folder in (models, models / "vtoonify_d_cartoon"):
        assert folder.stat().st_mode & 0o777 == 0o777 & ~mask, folder


@pytest.fixture
def cartoon_hub():
    """A hub serving every file `models fetch` (default style) asks for."""
    from engine.models.inventory import official_files

    files = {rel: (b"\x93NUMPY" if rel.endswith(".npy") else b"PK\x03\x04") + os.urandom(200_000)
             for rel in official_files("cartoon", "dualstylegan")}
    server = FakeHub(files)
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_models_fetch_json_prints_json_and_no_carriage_returns_off_a_terminal(cartoon_hub, tmp_path, capsys):
    """A pipeline scripting `models fetch --json` got text lines on stdout (--json was ignored) and, in a log
    file, one '\\r'-redrawn bar update per 64 KiB read (thousands for the 1.2 GB encoder)."""
    from engine.cli import main

    cli = ["models", "fetch", "--json", "--models", str(tmp_path / "m"), "--base-url", cartoon_hub.base_url]
    assert main(cli) == 0
    out, err = capsys.readouterr()
    results = json.loads(out)
    assert sorted(r["relpath"] for r in results) == sorted(cartoon_hub.files)
    assert all(r["verified"] and not r["skipped"] and len(r["sha256"]) == 64 for r in results)
    assert "\r" not in err
    assert sum(line.endswith("done") for line in err.splitlines()) == len(cartoon_hub.files), err

    assert main(cli) == 0  # again: everything already there, still JSON
    assert all(r["skipped"] for r in json.loads(capsys.readouterr().out))


class _StallingHandler(BaseHTTPRequestHandler):
    """Sends the headers and the first MiB of a large file, then nothing: a server or proxy that hangs."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(300 << 20))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        self.wfile.write(b"PK\x03\x04" + bytes(1 << 20))
        self.wfile.flush()
        self.server.release.wait(60)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_fetch_stopped_by_a_signal_on_a_stalled_download_exits_130_and_keeps_its_part(tmp_path, signame):
    """`models fetch` stuck on a server that went quiet: Ctrl-C exited 130, but SIGTERM (a farm or init
    stopping the task) and SIGHUP (the terminal closed) killed it by their default action (exit -15 / -1),
    against the documented 130. Now all three exit 130 at once, and the `.part` stays for the resume."""
    import signal
    import subprocess
    import sys
    import time

    server = ThreadingHTTPServer(("127.0.0.1", 0), _StallingHandler)
    server.daemon_threads = True
    server.release = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    models = tmp_path / "models"
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-m", "engine", "models", "fetch", "--models", str(models),
                             "--base-url", f"http://127.0.0.1:{server.server_address[1]}/"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(repo)})
    try:
        deadline = time.monotonic() + 30
        while not any(p.stat().st_size >= 1 << 20 for p in models.rglob("*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        sent = time.monotonic()
        proc.send_signal(getattr(signal, signame))
        _, err = proc.communicate(timeout=20)
        took = time.monotonic() - sent
    finally:
        server.release.set()
        server.shutdown()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert took < 2, took
    assert "cancelled:" in err
    assert [p.name for p in models.rglob("*.part")] == ["encoder.pt.part"]  # kept: the next fetch resumes it
    assert not (models / "encoder.pt").exists()
