INSERT INTO runs VALUES(1,'train','2026-01-01T00:00:00Z','2026-01-01T00:01:00Z','finished','small-mlp','abc123','{
  "name": "small-mlp",
  "input": [784],
  "layers": [
    {"name": "fc1", "type": "linear", "out": 64},
    {"name": "act1", "type": "relu"},
    {"name": "drop", "type": "dropout", "p": 0.1},
    {"name": "head", "type": "linear", "out": 10}
  ],
  "loss": "softmax_cross_entropy",
  "optimizer": {"type": "adamw", "lr": 2e-3, "weight_decay": 0.01},
  "train": {"batch": 64, "steps": 1500, "warmup": 50, "schedule": "cosine", "clip_norm": 1.0,
            "seed": 7, "eval_every": 500}
}
','{"prectune_policy":1}','fp32','cpu','csv:x.csv','prectune train',7,6,'0.1.0');
INSERT INTO steps VALUES(1,0,2.3,65536.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,1,2.1999999999999997,65536.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,2,2.0999999999999996,65536.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,3,1.9999999999999998,65536.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,4,1.9,65536.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,5,1.7999999999999998,65536.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','x','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','w','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','dy','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','dw','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','x','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','w','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','dy','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','dw','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','x','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','w','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','dy','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','dw','fp16',1.0,100,0,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','x','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','w','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','dy','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','dw','fp16',1.0,100,0,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO drift VALUES(1,5,0,'fc1',40.5,0.01);
INSERT INTO drift VALUES(1,5,3,'head',38.0,0.02);
INSERT INTO evals VALUES(1,5,1.9,0.45,100);
INSERT INTO events VALUES(1,1,3,'warning','overflow','fc1: 2 values overflowed fp16');
