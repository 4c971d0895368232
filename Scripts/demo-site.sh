#!/usr/bin/env bash
# The embedded default behind `make run`: a demo site under ./var with a phantom thigh DICOM series
# and a phantom calf NIfTI dropped into its inboxes, `segvol serve` in the foreground until both
# are done, then where the results are. Usage: Scripts/demo-site.sh SEGVOL_BINARY
set -euo pipefail
segvol=$(realpath "$1")
cd "$(dirname "$0")/.."
var=$(pwd)/var
site=$var/site
rm -rf "$site" "$var/phantoms"
mkdir -p "$site/inbox/thigh" "$site/inbox/calf" "$var/phantoms"

# The shipped configuration with the site under ./var and short quiet times (a demo, not a PACS).
sed -e "s#^root = .*#root = \"$site\"#" \
    -e 's#^quiet_folder_s = .*#quiet_folder_s = 2#' -e 's#^quiet_file_s = .*#quiet_file_s = 1#' \
    -e 's#^rescan_interval_s = .*#rescan_interval_s = 1#' \
    -e 's#^min_free_mb = .*#min_free_mb = 64#' -e 's#^min_free_percent = .*#min_free_percent = 1#' \
    Config/segvol.toml > "$var/segvol.toml"
"$segvol" check-config --config "$var/segvol.toml" >/dev/null

echo "segvol demo: writing a phantom thigh (DICOM series) and a phantom calf (NIfTI)"
"$segvol" phantom --region thigh --seed 7 --dicom --matrix 320x320 --slices 24 -o "$var/phantoms/thigh" >/dev/null
"$segvol" phantom --region calf --seed 3 --matrix 320x320 --slices 24 -o "$var/phantoms/calf" >/dev/null
thigh_case=$(ls -d "$var"/phantoms/thigh/*/ | head -1)
calf_case=$(ls -d "$var"/phantoms/calf/*/ | head -1)
# Drop the way a PACS export should: copy under a temporary name, then rename.
cp -r "$thigh_case/image" "$site/inbox/thigh/.demo-thigh" && mv "$site/inbox/thigh/.demo-thigh" "$site/inbox/thigh/demo-thigh"
cp "$calf_case/image.nii.gz" "$site/inbox/calf/.demo-calf.nii.gz" && mv "$site/inbox/calf/.demo-calf.nii.gz" "$site/inbox/calf/demo-calf.nii.gz"

echo "segvol demo: serving $site until both drops are done (journal lines follow)"
"$segvol" serve --config "$var/segvol.toml" --exit-when-idle

echo
echo "segvol demo: results"
for job in "$site"/outbox/*/; do
  echo "  $job"
  find "$job" -name qc.png -printf '    QC picture   %p\n' -o -name volumes.csv -printf '    volumes      %p\n'
done
if ls "$site"/failed/*/reason.json >/dev/null 2>&1; then
  echo "  failed jobs:"; for r in "$site"/failed/*/reason.json; do echo "    $r"; done
fi
echo "  reports      $site/reports/volumes.csv (one row per scan × class × side)"
echo "               $(ls "$site"/reports/volumes_*.csv 2>/dev/null | tr '\n' ' ')"
echo "  exact phantom volumes (truth) in $thigh_case/truth.json and $calf_case/truth.json"
echo
"$segvol" status --config "$var/segvol.toml" | head -20
test -s "$site/reports/volumes.csv" || { echo "segvol demo: no report written" >&2; exit 1; }
echo
echo "segvol demo: the largest measured volumes (region, class, side)"
awk -F, 'NR==1 {next} {printf "    %-8s %-28s %-8s %10s mL\n", $6, $9, $10, $11}' "$site/reports/volumes.csv" | sort -k4 -g -r | head -12
