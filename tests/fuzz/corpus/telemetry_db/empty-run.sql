INSERT INTO runs(id,kind,started,model) VALUES(1,'tune','x','<m>');
