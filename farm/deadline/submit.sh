#!/usr/bin/env bash
# Submits one shot to Thinkbox Deadline: the prepare job, then the chunked render job that waits for it.
# Edit the four files beside this script first (paths, frames, settings); both plugin files must carry
# the same settings, so both runs compute the same job key.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prepare_id="$(deadlinecommand "$here/prepare.job" "$here/prepare.plugin" | sed -n 's/^JobID=//p' | tr -d '\r')"
if [ -z "$prepare_id" ]; then
  echo "the prepare job was not submitted (see deadlinecommand's output above)" >&2
  exit 1
fi
render_job="$(mktemp)"
trap 'rm -f "$render_job"' EXIT
sed "s/^JobDependencies=.*/JobDependencies=$prepare_id/" "$here/render.job" > "$render_job"
deadlinecommand "$render_job" "$here/render.plugin"
