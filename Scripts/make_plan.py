#!/usr/bin/env python3
"""Writes a segvol plan.json over the classes of Config/labels.toml for the given regions.

usage: make_plan.py OUT.json --regions thigh,calf,abdomen --width 8 --depth 4 --size 128
       [--thigh-mm 0.78] [--calf-mm 0.54] [--abdomen-mm 1.5] [--abdomen-slice-mm 3.5]
Plain Python (no packages); segvol itself never needs it.
"""
import argparse, json, os, re

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--labels", default=os.path.join(here, "..", "Config", "labels.toml"))
p.add_argument("--regions", default="thigh,calf,abdomen")
p.add_argument("--width", type=int, default=8)
p.add_argument("--depth", type=int, default=4)
p.add_argument("--size", type=int, default=128)
p.add_argument("--thigh-mm", type=float, default=0.78)
p.add_argument("--calf-mm", type=float, default=0.54)
p.add_argument("--abdomen-mm", type=float, default=1.5)
p.add_argument("--abdomen-slice-mm", type=float, default=3.5)
p.add_argument("--loss", default="xent_plus + dice_log")
a = p.parse_args()

classes, cur = [], None
for line in open(a.labels):
    line = line.split("#", 1)[0].strip()
    if line == "[[class]]":
        cur = {}
        classes.append(cur)
    elif cur is not None and "=" in line:
        k, v = [s.strip() for s in line.split("=", 1)]
        if k == "id": cur["id"] = int(v)
        elif k == "name": cur["name"] = v.strip('"')
        elif k == "regions": cur["regions"] = re.findall(r'"(\w+)"', v)
regions = a.regions.split(",")
used = sorted((c for c in classes if set(c["regions"]) & set(regions)), key=lambda c: c["id"])
profiles = {"thigh": {"inPlaneSpacing": a.thigh_mm}, "calf": {"inPlaneSpacing": a.calf_mm},
            "abdomen": {"inPlaneSpacing": a.abdomen_mm, "sliceSpacing": a.abdomen_slice_mm}}
norms = {"thigh": {"kind": "percentile", "low": 0.5, "high": 99.5}, "calf": {"kind": "percentile", "low": 0.5, "high": 99.5},
         "abdomen": {"kind": "window", "low": -250, "high": 350}}
plan = {"format": "segvol-model-plan", "version": 1,
        "architecture": {"kind": "unet2d-bn", "inChannels": 1, "baseWidth": a.width, "depth": a.depth},
        "inputSize": [a.size, a.size],
        "outputs": [{"id": 0, "name": "background"}] + [{"id": c["id"], "name": c["name"]} for c in used],
        "regions": {r: {"profile": profiles[r], "normalization": norms[r],
                        "classIDs": [c["id"] for c in used if r in c["regions"]]} for r in regions},
        "loss": a.loss}
with open(a.out, "w") as f:
    json.dump(plan, f, indent=2, sort_keys=True)
    f.write("\n")
