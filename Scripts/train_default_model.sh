#!/bin/sh
# Rebuilds Models/default in eight stages (Models/default/MODEL.md "How it was trained"):
#   1. from the seed, on the default phantom set, 128² input at coarse profiles (thigh 1.75, calf
#      1.5, abdomen 3.0 mm), lr 1e-3 dropping on plateau, bounded by MINUTES;
#   2. fine-tune from stage 1 on the set plus six more training subjects per dataset (generated,
#      seeds first+1000…, all on the training side: the 18 validation subjects stay the same),
#      lr 2e-4, 700 steps;
#   3. fine-tune from stage 2 at finer profiles (thigh 1.25, calf 1.0, abdomen 2.5 mm) with a 160²
#      input (the U-Net's weights do not depend on the input size), lr 2e-4, 2000 steps;
#   4. fine-tune from stage 3 at thigh 1.0, calf 0.75, abdomen 2.0 mm with a 192² input, lr 2e-4,
#      2064 steps (where session 3's 30-minute run stopped);
#   5. fine-tune from stage 4 on the stage-2 data plus eight more training subjects per dataset
#      (seeds first+2000…) and four bilateral thigh and four bilateral calf subjects (512×256),
#      no shift augmentation, 600 steps;
#   6. fine-tune from stage 5 with the shift augmentation (± 20 % of the window) and wide slices
#      cropped at random places, same data, STAGE6_STEPS steps (MODEL.md says how session 4 ran
#      it: two runs, the first before random crops existed);
#   7. widen stage 6 from base width 8 to 12 (Net2WiderNet) and train on, lr 2e-4, STAGE7_STEPS;
#   8. from stage 7's best at lr 5e-5, STAGE8_STEPS steps: WORKDIR/model is Models/default.
# Stages 2 to 4 end at a fixed step, so with one engine thread they give the same weights from
# the same stage-1 weights; stages 5 to 8 ran with two engine threads (THREADS56), whose sums
# differ in rounding from run to run: a rebuild gives a model of the same recipe, not these bytes. INIT=weights.safetensors (a 128²-plan model, e.g. git's earlier
# Models/default) skips stage 1.
# usage: Scripts/train_default_model.sh WORKDIR [MINUTES]   (release build of segvol first)
set -eu
work=${1:?usage: train_default_model.sh WORKDIR [MINUTES]}
minutes=${2:-20}
segvol=${SEGVOL:-.build/release/segvol}
loss=${LOSS:-xent_plus + dice_log}
data=$work/data
# Puts every subject of DIR that split.json does not know yet on the training side (the frozen
# split keeps the set's 18 validation subjects as they are).
train_side_for_new_subjects() {
    python3 - "$1" <<'EOF'
import glob, json, sys
root = sys.argv[1]
split = json.load(open(root + "/split.json"))
for f in glob.glob(root + "/*/*/case.json"):
    split["subjects"].setdefault(json.load(open(f))["subject"], "train")
json.dump(split, open(root + "/split.json", "w"), indent=2, sort_keys=True)
EOF
}
mkdir -p "$data"
# The default phantom set (9 partial-label datasets × 6 subjects, 192×192×16; the list lives in
# Swift: Phantoms.DefaultTrainingSet) with its frozen split.json; cases already there are kept.
"$segvol" phantom --default-set -o "$data"

# Stage 1. Coarse profiles so the phantoms' fields of view (thigh ~220 mm, calf ~190 mm,
# abdomen ~380 mm) fit the 128-pixel input.
python3 Scripts/make_plan.py "$work/plan-128.json" --regions thigh,calf,abdomen --width 8 --depth 4 --size 128 \
    --thigh-mm 1.75 --calf-mm 1.5 --abdomen-mm 3.0 --abdomen-slice-mm 3.5
if [ -z "${INIT:-}" ]; then
    "$segvol" train --data "$data" --plan "$work/plan-128.json" --loss "$loss" \
        --steps "${STEPS:-20000}" --out "$work/stage1" --seed 1 --batch 9 --lr "${LR:-1e-3}" \
        --validate-every "${VALIDATE_EVERY:-250}" --early-stop 6 --max-minutes "$minutes"
    INIT=$work/stage1/weights.safetensors
fi

# Stage 2 data: the set plus six more training subjects per dataset (the generator is free).
more=$work/data-more
if [ ! -f "$more/.extra-subjects-done" ]; then
    rm -rf "$more"
    mkdir -p "$more"
    cp -R "$data"/. "$more"/
    for e in thigh-full:thigh:101 thigh-adductors-imaf:thigh:111 calf-full:calf:201 calf-muscle:calf:211 \
             calf-tissue:calf:221 abdomen-full:abdomen:301 abdomen-liver:abdomen:311 abdomen-spleen:abdomen:321 \
             abdomen-pancreas:abdomen:331; do
        ds=${e%%:*}; rest=${e#*:}; region=${rest%%:*}; first=${rest#*:}
        for i in 0 1 2 3 4 5; do
            "$segvol" phantom --region "$region" --seed $((first + 1000 + i)) --dataset "$ds" --matrix 192x192 \
                --slices 16 --rays 256 -o "$more/$ds" > /dev/null
        done
    done
    # The new subjects train; the frozen split keeps the set's 18 validation subjects as they are.
    train_side_for_new_subjects "$more"
    touch "$more/.extra-subjects-done"
fi
"$segvol" train --data "$more" --plan "$work/plan-128.json" --loss "$loss" --steps 700 --out "$work/stage2" \
    --seed 2 --batch 9 --lr 2e-4 --validate-every 100 --early-stop 0 --plateau-patience 2 --threads 1 --init "$INIT"

# Stage 3: finer profiles, 160² input (ceiling table in MODEL.md).
python3 Scripts/make_plan.py "$work/plan-160.json" --regions thigh,calf,abdomen --width 8 --depth 4 --size 160 \
    --thigh-mm 1.25 --calf-mm 1.0 --abdomen-mm 2.5 --abdomen-slice-mm 3.5
"$segvol" train --data "$more" --plan "$work/plan-160.json" --loss "$loss" --steps 2000 --out "$work/stage3" \
    --seed 3 --batch 9 --lr 2e-4 --validate-every 200 --early-stop 0 --plateau-patience 3 --threads 1 \
    --init "$work/stage2/weights.safetensors"

# Stage 4: finer still, 192² input (ceiling table in MODEL.md), from stage 3's best weights.
python3 Scripts/make_plan.py "$work/plan-192.json" --regions thigh,calf,abdomen --width 8 --depth 4 --size 192 \
    --thigh-mm 1.0 --calf-mm 0.75 --abdomen-mm 2.0 --abdomen-slice-mm 3.5
"$segvol" train --data "$more" --plan "$work/plan-192.json" --loss "$loss" --steps "${STAGE4_STEPS:-2064}" --out "$work/stage4" \
    --seed 4 --batch 9 --lr 2e-4 --validate-every 200 --early-stop 0 --plateau-patience 3 --threads 1 \
    --init "$work/stage3/weights.safetensors"

# Stage 5 data: stage 2's plus eight more training subjects per dataset and bilateral limbs
# (training only; the 18 validation subjects stay the same).
extra=$work/data-extra
if [ ! -f "$extra/.extra-subjects-done" ]; then
    rm -rf "$extra"
    mkdir -p "$extra"
    cp -R "$more"/. "$extra"/
    rm -f "$extra/.extra-subjects-done"
    for e in thigh-full:thigh:101 thigh-adductors-imaf:thigh:111 calf-full:calf:201 calf-muscle:calf:211 \
             calf-tissue:calf:221 abdomen-full:abdomen:301 abdomen-liver:abdomen:311 abdomen-spleen:abdomen:321 \
             abdomen-pancreas:abdomen:331; do
        ds=${e%%:*}; rest=${e#*:}; region=${rest%%:*}; first=${rest#*:}
        for i in 0 1 2 3 4 5 6 7; do
            "$segvol" phantom --region "$region" --seed $((first + 2000 + i)) --dataset "$ds" --matrix 192x192 \
                --slices 16 --rays 256 -o "$extra/$ds" > /dev/null
        done
    done
    for i in 0 1 2 3; do
        "$segvol" phantom --region thigh --seed $((5001 + i)) --dataset thigh-full --bilateral --matrix 512x256 \
            --slices 16 --rays 256 -o "$extra/thigh-full" > /dev/null
        "$segvol" phantom --region calf --seed $((6001 + i)) --dataset calf-full --bilateral --matrix 512x256 \
            --slices 16 --rays 256 -o "$extra/calf-full" > /dev/null
    done
    train_side_for_new_subjects "$extra"
    touch "$extra/.extra-subjects-done"
fi
threads=${THREADS56:-2}
"$segvol" train --data "$extra" --plan "$work/plan-192.json" --loss "$loss" --steps 600 --out "$work/stage5" \
    --seed 5 --batch 9 --lr 2e-4 --validate-every 300 --early-stop 0 --plateau-patience 4 --threads "$threads" \
    --max-shift 0 --init "$work/stage4/weights.safetensors"

# Stage 6: the same data with the shift augmentation (the default --max-shift 0.2); wide slices
# (the bilateral cases) are cut to 192² at random places.
"$segvol" train --data "$extra" --plan "$work/plan-192.json" --loss "$loss" --steps "${STAGE6_STEPS:-3988}" --out "$work/stage6" \
    --seed 6 --batch 9 --lr 2e-4 --validate-every 300 --early-stop 0 --plateau-patience 4 --threads "$threads" \
    --init "$work/stage5/weights.safetensors"

# Stage 7: the same network widened to base width 12 (Net2WiderNet: `--init` with a narrower
# network's weights, docs/training.md), same data and rate.
python3 Scripts/make_plan.py "$work/plan-192-w12.json" --regions thigh,calf,abdomen --width 12 --depth 4 --size 192 \
    --thigh-mm 1.0 --calf-mm 0.75 --abdomen-mm 2.0 --abdomen-slice-mm 3.5
"$segvol" train --data "$extra" --plan "$work/plan-192-w12.json" --loss "$loss" --steps "${STAGE7_STEPS:-4211}" --out "$work/stage7" \
    --seed 8 --batch 9 --lr 2e-4 --validate-every 300 --early-stop 0 --plateau-patience 4 --threads "$threads" \
    --init "$work/stage6/weights.safetensors"

# Stage 8: from stage 7's best weights at a quarter of the rate: WORKDIR/model is Models/default.
"$segvol" train --data "$extra" --plan "$work/plan-192-w12.json" --loss "$loss" --steps "${STAGE8_STEPS:-STAGE8_DEFAULT}" --out "$work/model" \
    --seed 9 --batch 9 --lr 5e-5 --validate-every 250 --early-stop 0 --plateau-patience 4 --threads "$threads" \
    --init "$work/stage7/weights.safetensors"
