"""Writes machines.csv, the data of this example (run once; the CSV is
committed). Four condition-monitoring channels of a machine, classified as
normal (0), worn (1) or fault (2). Faults are rare (5 of 2000 samples) and
show as vibration and acoustic readings tens of times the usual ones."""
import random

random.seed(11)
rows = []
for i in range(2000):
    temp, current, vib, acoustic = (random.gauss(0, 1) for _ in range(4))
    label = 0
    if random.random() < 0.4:
        label = 1
        temp += 1.2
        current += 1.0
    if i in (437, 911, 1290, 1604, 1877):
        label = 2
        vib = random.uniform(80, 200)
        acoustic = random.uniform(30, 60)
    rows.append((temp, current, vib, acoustic, label))
with open("machines.csv", "w") as f:
    f.write("temperature,current,vibration,acoustic,condition\n")
    for r in rows:
        f.write("%.4f,%.4f,%.4f,%.4f,%d\n" % r)
