#!/bin/sh
# Rebuilds Models/default: phantom cases of the partial-label datasets, a union plan, training.
# usage: Scripts/train_default_model.sh WORKDIR [MINUTES]   (release build of segvol first)
set -eu
work=${1:?usage: train_default_model.sh WORKDIR [MINUTES]}
minutes=${2:-20}
segvol=${SEGVOL:-.build/release/segvol}
data=$work/data
mkdir -p "$data"
# The default phantom set (9 partial-label datasets × 6 subjects, 192×192×16; the list lives in
# Swift: Phantoms.DefaultTrainingSet) with its frozen split.json; cases already there are kept.
"$segvol" phantom --default-set -o "$data"
# Coarse profiles so the phantoms' fields of view (thigh ~220 mm, calf ~190 mm, abdomen
# ~380 mm) fit the 128-pixel input.
python3 Scripts/make_plan.py "$work/plan.json" --regions thigh,calf,abdomen --width 8 --depth 4 --size 128 \
    --thigh-mm 1.75 --calf-mm 1.5 --abdomen-mm 3.0 --abdomen-slice-mm 3.5
"$segvol" train --data "$data" --plan "$work/plan.json" --loss "${LOSS:-xent_plus + dice_log}" \
    --steps "${STEPS:-20000}" --out "$work/model" --seed 1 --batch 9 --lr "${LR:-1e-3}" \
    --validate-every "${VALIDATE_EVERY:-250}" --early-stop 6 --max-minutes "$minutes"
