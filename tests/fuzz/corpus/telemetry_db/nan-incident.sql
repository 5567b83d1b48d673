INSERT INTO runs VALUES(1,'train','2026-01-01T00:00:00Z','2026-01-01T00:01:00Z','running','small-mlp','abc123','{
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
INSERT INTO steps VALUES(1,0,2.3,32768.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,1,2.3,32768.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,2,2.3,32768.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,3,2.3,32768.0,0,NULL,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,4,1e400,16384.0,1,overflow,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,5,1e400,8192.0,1,overflow,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,6,1e400,4096.0,1,overflow,1.5,0.002,3.0,0,0);
INSERT INTO steps VALUES(1,7,1e400,2048.0,1,overflow,1.5,0.002,3.0,0,0);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','x','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','w','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','dy','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,0,'fc1','dw','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','x','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','w','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','dy','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,0,3,'head','dw','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','x','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','w','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','dy','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,0,'fc1','dw','fp16',1.0,100,7,0,0,3,10.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','x','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','w','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','dy','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO layer_stats VALUES(1,5,3,'head','dw','fp16',1.0,100,7,0,0,3,40.0,1e-5,0,0,0,0,0,0,0,0,NULL);
INSERT INTO events VALUES(1,1,4,'incident','nonfinite_loss','non-finite loss at step 4');
