"""Writes frames.csv for the fp16-norm-eps incident (run once; the CSV is
committed): 1500 frames of 8 sensor channels from a sensor hub, classified
into three operating modes. About 3% of the frames are empty (all zeros):
the hub sent a frame before its sensors reported, which is mode 0."""
import random

random.seed(23)
with open("frames.csv", "w") as f:
    f.write(",".join("ch%d" % i for i in range(8)) + ",mode\n")
    for i in range(1500):
        if random.random() < 0.03:
            ch, mode = [0.0] * 8, 0
        else:
            mode = random.randrange(3)
            ch = [random.gauss(0.5 * mode * (1 if k % 2 else -1), 1) + 3 for k in range(8)]
        f.write(",".join("%.4f" % v for v in ch) + ",%d\n" % mode)
