#!/bin/sh
# Rebuilds Models/default: phantom cases of the partial-label datasets, a union plan, training.
# usage: Scripts/train_default_model.sh WORKDIR [MINUTES]   (release build of segvol first)
set -eu
work=${1:?usage: train_default_model.sh WORKDIR [MINUTES]}
minutes=${2:-20}
segvol=${SEGVOL:-.build/release/segvol}
data=$work/data
mkdir -p "$data"
# 6 subjects per dataset, distinct seeds per dataset (each dataset its own subjects).
gen() { # region dataset first-seed
    for i in 0 1 2 3 4 5; do
        s=$(($3 + i))
        [ -d "$data/$2/phantom-$1-$s-v1" ] || "$segvol" phantom --region "$1" --seed "$s" --dataset "$2" \
            --matrix 192x192 --slices 16 -o "$data/$2" >/dev/null
    done
}
gen thigh thigh-full 101
gen thigh thigh-adductors-imaf 111
gen calf calf-full 201
gen calf calf-muscle 211
gen calf calf-tissue 221
gen abdomen abdomen-full 301
gen abdomen abdomen-liver 311
gen abdomen abdomen-spleen 321
gen abdomen abdomen-pancreas 331
# Coarse profiles so the phantoms' fields of view (thigh ~220 mm, calf ~190 mm, abdomen
# ~380 mm) fit the 128-pixel input.
python3 Scripts/make_plan.py "$work/plan.json" --regions thigh,calf,abdomen --width 8 --depth 4 --size 128 \
    --thigh-mm 1.75 --calf-mm 1.5 --abdomen-mm 3.0 --abdomen-slice-mm 3.5
"$segvol" train --data "$data" --plan "$work/plan.json" --loss "${LOSS:-xent_plus + dice_log}" \
    --steps "${STEPS:-20000}" --out "$work/model" --seed 1 --batch 9 --lr "${LR:-1e-3}" \
    --validate-every "${VALIDATE_EVERY:-250}" --early-stop 6 --max-minutes "$minutes"
