"""blender_manifest.toml has what Blender 4.2+ requires (checked with tomllib, no Blender needed)."""

from __future__ import annotations

import re

import pytest
import tomllib


@pytest.fixture(scope="module")
def manifest(repo_root) -> dict:
    return tomllib.loads((repo_root / "blender_manifest.toml").read_text(encoding="utf-8"))


REQUIRED = {"schema_version": str, "id": str, "version": str, "name": str, "tagline": str, "maintainer": str,
            "type": str, "blender_version_min": str, "license": list}


def test_required_fields_and_types(manifest):
    for key, kind in REQUIRED.items():
        assert isinstance(manifest.get(key), kind), key
    assert manifest["schema_version"] == "1.0.0"
    assert manifest["id"] == "vtoonify" and re.fullmatch(r"[a-z][a-z0-9_]*", manifest["id"])
    assert manifest["type"] == "add-on"
    assert manifest["version"] == "0.1.0"


def test_versions_are_semver(manifest):
    for key in ("version", "blender_version_min"):
        assert re.fullmatch(r"\d+\.\d+\.\d+", manifest[key]), key
    assert tuple(int(p) for p in manifest["blender_version_min"].split(".")) >= (4, 2, 0)


def test_tagline_is_short_without_trailing_period(manifest):
    tagline = manifest["tagline"]
    assert 0 < len(tagline) <= 64
    assert tagline[-1].isalnum()


def test_license_is_spdx(manifest):
    assert manifest["license"] == ["SPDX:MIT"]


def test_permissions_have_short_reasons(manifest):
    permissions = manifest["permissions"]
    assert set(permissions) == {"files", "network"}
    for key, reason in permissions.items():
        assert isinstance(reason, str) and 0 < len(reason) <= 64, key
        assert reason[-1] not in ".!?" and reason[0].isupper(), key


def test_version_matches_package_metadata(manifest, repo_root):
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    assert manifest["version"] == pyproject["project"]["version"]
