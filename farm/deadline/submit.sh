#!/usr/bin/env bash
# Submits one shot to Thinkbox Deadline: the prepare job, then the chunked render job that waits for it.
# Edit the four files beside this script first (paths, frames, settings); both plugin files must carry
# the same settings, so both runs compute the same job key. Per-shot engine settings given as arguments
# (submit.sh --style arcane --mattes) are added to both Arguments lines; the engine takes an option's
# last value, so they override the files'.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
extra=""
for arg in "$@"; do
  # the engine takes any unambiguous prefix of an option (--frame, --overw): refuse those of the ones below
  for own in --frames --output --resume --overwrite --json-progress --openjd-progress; do
    if [[ "${arg%%=*}" == --?* && "$own" == "${arg%%=*}"?* ]]; then
      echo "$arg abbreviates $own, which a farm job does not take per shot (docs/FARM.md)" >&2; exit 2
    fi
  done
  case "$arg" in
    -h|--help)
      echo "usage: $0 [ENGINE OPTION ...]   e.g. $0 --style arcane --scale 0.5 --mattes"
      echo "Submits the prepare job, then the chunked render job waiting for it, with deadlinecommand."
      echo "Shot, frames and settings come from prepare/render .job/.plugin beside this script (edit them"
      echo "first); engine options given here are added to both jobs' Arguments (docs/FARM.md)."
      exit 0 ;;
    --frames|--frames=*|-o|--output|--output=*|--resume|--json-progress|--openjd-progress)
      echo "$arg is set by the job files, not per shot: edit it in the .job/.plugin files beside" \
           "this script (docs/FARM.md)" >&2; exit 2 ;;
    --overwrite)
      echo "--overwrite deletes an earlier job's frames, so a farm job never takes it: submit into a new" \
           "output folder (or delete the old frames by hand)" >&2; exit 2 ;;
    *\"*) echo "$arg: a setting may not hold a double quote (the Arguments line cannot carry it):" \
                "rename the file or folder" >&2; exit 2 ;;
    *[[:space:]]*) extra+=" \"$arg\"" ;;
    *) extra+=" $arg" ;;
  esac
done
if ! command -v deadlinecommand >/dev/null 2>&1; then
  echo "deadlinecommand is not on PATH, so nothing was submitted. Fix: install the Deadline Client on this" \
       "machine and put its bin folder on PATH (e.g. export PATH=/opt/Thinkbox/Deadline10/bin:\$PATH)" >&2
  exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for plugin in prepare.plugin render.plugin; do
  EXTRA="$extra" awk '/^Arguments=/ { $0 = $0 ENVIRON["EXTRA"] } { print }' "$here/$plugin" > "$work/$plugin"
done
prepare_id="$(deadlinecommand "$here/prepare.job" "$work/prepare.plugin" | sed -n 's/^JobID=//p' | tr -d '\r')"
if [ -z "$prepare_id" ]; then
  echo "the prepare job was not submitted (see deadlinecommand's output above)" >&2
  exit 1
fi
sed "s/^JobDependencies=.*/JobDependencies=$prepare_id/" "$here/render.job" > "$work/render.job"
deadlinecommand "$work/render.job" "$work/render.plugin"
