BEGIN TRANSACTION;
CREATE TABLE epolice_schema (
	version INTEGER NOT NULL, 
	description VARCHAR(200) NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "epolice_schema" VALUES(1,'violation records','2026-12-01 00:31:09.073589');
INSERT INTO "epolice_schema" VALUES(2,'review room: reviewed plate, claims, row version, export batch, decisions log','2026-12-01 00:31:09.082296');
CREATE TABLE review_audit_log (
	seq INTEGER NOT NULL, 
	at VARCHAR(40) NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	record_id VARCHAR(64), 
	"before" TEXT, 
	"after" TEXT, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (seq)
);
INSERT INTO "review_audit_log" VALUES(1,'2026-12-01T00:31:10.390171+00:00','cli','user_add',NULL,NULL,'{"role":"reviewer","user":"rita"}','0000000000000000000000000000000000000000000000000000000000000000','6f4897980ea605705591502ceb9587e6891c6a0d5ca09973f8945f0d044c2e2b');
INSERT INTO "review_audit_log" VALUES(2,'2026-12-01T00:31:10.397209+00:00','cli','user_add',NULL,NULL,'{"role":"supervisor","user":"sam"}','6f4897980ea605705591502ceb9587e6891c6a0d5ca09973f8945f0d044c2e2b','bb0cd0be0765276ffae383a4c0bed8f4451c06341bca34c279377e8dbfb75e82');
INSERT INTO "review_audit_log" VALUES(3,'2026-12-01T00:31:10.400564+00:00','cli','user_add',NULL,NULL,'{"role":"admin","user":"ada"}','bb0cd0be0765276ffae383a4c0bed8f4451c06341bca34c279377e8dbfb75e82','3070c1c79d186ac3f897d1f0ef1f1551b4d2d9cb27cbce64f581c9a30a87f263');
INSERT INTO "review_audit_log" VALUES(4,'2026-12-01T00:31:10.432939+00:00','rita','approve','1','{"stage":"first","status":"pending_review"}','{"action":"approve","reason_code":null,"status":"approved"}','3070c1c79d186ac3f897d1f0ef1f1551b4d2d9cb27cbce64f581c9a30a87f263','c8f89fc6465dc5d70587ab9b53837b5e2e587c8f0576665826a9196ceeb30d86');
INSERT INTO "review_audit_log" VALUES(5,'2026-12-01T00:31:10.452091+00:00','rita','reject','2','{"stage":"first","status":"pending_review"}','{"action":"reject","reason_code":"not_violation","status":"rejected"}','c8f89fc6465dc5d70587ab9b53837b5e2e587c8f0576665826a9196ceeb30d86','f77c2d4682769e765aedb286c5fe209fa85faf78cbcd671ee4426de296bf5308');
INSERT INTO "review_audit_log" VALUES(6,'2026-12-01T00:31:10.479569+00:00','rita','correct_plate','3','{"machine_color":"blue","machine_text":"浙A12343","reviewed_color":null,"reviewed_text":null}','{"machine_color":"blue","machine_text":"浙A12343","reviewed_color":"yellow","reviewed_text":"浙B54321"}','f77c2d4682769e765aedb286c5fe209fa85faf78cbcd671ee4426de296bf5308','5ee50620059b5198160d91e3ab888c65ee746bb73cc7bbb6ad3e94da617b377b');
INSERT INTO "review_audit_log" VALUES(7,'2026-12-01T00:31:10.502782+00:00','sam','export',NULL,NULL,'{"exported":[1]}','5ee50620059b5198160d91e3ab888c65ee746bb73cc7bbb6ad3e94da617b377b','ec247928b02765ac760f3c4145e8dc71b54ae906d555ef1dc0b05f5c8879407d');
CREATE TABLE review_decisions (
	id INTEGER NOT NULL, 
	record_id INTEGER NOT NULL, 
	actor VARCHAR(128) NOT NULL, 
	at DATETIME NOT NULL, 
	action VARCHAR(32) NOT NULL, 
	reason_code VARCHAR(64), 
	note TEXT, 
	"before" JSON, 
	"after" JSON, 
	PRIMARY KEY (id), 
	CONSTRAINT fk_review_decisions_record FOREIGN KEY(record_id) REFERENCES violation_records (id)
);
INSERT INTO "review_decisions" VALUES(1,1,'rita','2026-12-01 00:31:10.430527','approve',NULL,NULL,'{"status": "pending_review", "stage": "first"}','{"status": "approved", "action": "approve", "reason_code": null}');
INSERT INTO "review_decisions" VALUES(2,2,'rita','2026-12-01 00:31:10.451154','reject','not_violation',NULL,'{"status": "pending_review", "stage": "first"}','{"status": "rejected", "action": "reject", "reason_code": "not_violation"}');
INSERT INTO "review_decisions" VALUES(3,3,'rita','2026-12-01 00:31:10.476994','correct_plate',NULL,NULL,'{"machine_text": "\u6d59A12343", "machine_color": "blue", "reviewed_text": null, "reviewed_color": null}','{"machine_text": "\u6d59A12343", "machine_color": "blue", "reviewed_text": "\u6d59B54321", "reviewed_color": "yellow"}');
INSERT INTO "review_decisions" VALUES(4,1,'export','2026-12-01 00:31:10.488760','export',NULL,NULL,'{"status": "approved"}','{"status": "exported", "exported_at": "2024-05-02 00:30:12.345000+00:00", "export_batch": "batch-1"}');
CREATE TABLE review_exports (
	id INTEGER NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	at DATETIME NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	file_name VARCHAR(128) NOT NULL, 
	count INTEGER NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "review_exports" VALUES(1,'sam','2024-05-02 00:30:12.345000','zip','export-1.zip',1,'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee');
CREATE TABLE review_login_attempts (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	client VARCHAR(64) NOT NULL, 
	at DATETIME NOT NULL, 
	ok BOOLEAN NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "review_login_attempts" VALUES(1,'rita','127.0.0.1','2026-12-01 00:31:10.408335',1);
CREATE TABLE review_reason_codes (
	code VARCHAR(32) NOT NULL, 
	zh VARCHAR(64) NOT NULL, 
	en VARCHAR(64) NOT NULL, 
	active BOOLEAN NOT NULL, 
	position INTEGER NOT NULL, 
	PRIMARY KEY (code)
);
INSERT INTO "review_reason_codes" VALUES('plate_unreadable','号牌无法辨认','Plate unreadable',1,0);
INSERT INTO "review_reason_codes" VALUES('not_violation','不构成违法','Not a violation',1,1);
INSERT INTO "review_reason_codes" VALUES('duplicate','重复记录','Duplicate',1,2);
INSERT INTO "review_reason_codes" VALUES('emergency_vehicle','执行任务的特种车辆','Emergency vehicle on duty',1,3);
INSERT INTO "review_reason_codes" VALUES('image_quality','图像质量不合格','Image quality insufficient',1,4);
INSERT INTO "review_reason_codes" VALUES('wrong_vehicle','车辆与号牌不符','Plate does not match vehicle',1,5);
INSERT INTO "review_reason_codes" VALUES('other','其他','Other',1,6);
CREATE TABLE review_schema (
	version INTEGER NOT NULL, 
	description VARCHAR(200) NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (version)
);
INSERT INTO "review_schema" VALUES(1,'review app: users, sessions, login attempts, reason codes, audit chain, exports','2026-12-01 00:31:09.145735');
CREATE TABLE review_sessions (
	token_hash VARCHAR(64) NOT NULL, 
	user_id INTEGER NOT NULL, 
	csrf VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	PRIMARY KEY (token_hash), 
	FOREIGN KEY(user_id) REFERENCES review_users (id)
);
INSERT INTO "review_sessions" VALUES('5e069e91c9befdfcf0c39a00336db26fb23a53a964d8e16cf368bf7d6e3051c6',1,'wG-kcy8FQ7j0XxGDtfdPCTzvc-zbH1IJNpFu31CfqHs','2026-12-01 00:31:10.404885','2026-12-01 08:31:10.404885');
CREATE TABLE review_users (
	id INTEGER NOT NULL, 
	name VARCHAR(64) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
INSERT INTO "review_users" VALUES(1,'rita','$argon2id$v=19$m=65536,t=3,p=4$xw+QSRCKyKVtrub4mVMP6Q$eviwdWij1sTb8MGJ3SAaI2NNC8YrZ8tI4EZ65teXF40','reviewer',1,'2026-12-01 00:31:09.753269');
INSERT INTO "review_users" VALUES(2,'sam','$argon2id$v=19$m=65536,t=3,p=4$1qwE9btPeB9Qdr8KoCRj7A$kOiwD/6WHi5J+BAClKXOdzrEbyw4t1AvfPlr2SpcAgg','supervisor',1,'2026-12-01 00:31:10.129441');
INSERT INTO "review_users" VALUES(3,'ada','$argon2id$v=19$m=65536,t=3,p=4$AXdvHVWom2PRifHu9sa03A$tG/dQY2ES3IMnbDGUJA0m3c0jpS5IV+abEH1P95cF44','admin',1,'2026-12-01 00:31:10.387420');
CREATE TABLE violation_records (
	id INTEGER NOT NULL, 
	event_key VARCHAR(64) NOT NULL, 
	site_id VARCHAR(64) NOT NULL, 
	camera_id VARCHAR(64) NOT NULL, 
	rule VARCHAR(32) NOT NULL, 
	code VARCHAR(16) NOT NULL, 
	code_name VARCHAR(200) NOT NULL, 
	track_id BIGINT NOT NULL, 
	start_time DATETIME NOT NULL, 
	end_time DATETIME NOT NULL, 
	plate_text VARCHAR(32), 
	plate_color VARCHAR(16) NOT NULL, 
	plate_agreement FLOAT NOT NULL, 
	vehicle_class VARCHAR(32) NOT NULL, 
	facts JSON NOT NULL, 
	evidence_path VARCHAR(1024) NOT NULL, 
	evidence_files JSON NOT NULL, 
	manifest_sha256 VARCHAR(64) NOT NULL, 
	signature TEXT NOT NULL, 
	key_id VARCHAR(32) NOT NULL, 
	model_versions JSON NOT NULL, 
	warnings JSON NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	created_at DATETIME NOT NULL, plate_text_reviewed VARCHAR(32), plate_color_reviewed VARCHAR(16), claimed_by VARCHAR(128), claimed_until DATETIME, row_version INTEGER DEFAULT 1 NOT NULL, updated_at DATETIME, exported_at DATETIME, export_batch VARCHAR(128), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_violation_records_event_key UNIQUE (event_key), 
	CONSTRAINT ck_violation_records_status CHECK (status IN ('pending_review','approved','rejected','exported'))
);
INSERT INTO "violation_records" VALUES(1,'legacy-1','site-001','cam-02','parking','1039','机动车违反规定停放、临时停车',101,'2024-05-01 00:31:12.345000','2024-05-01 00:31:42.345000','浙A12341','blue',0.9,'car','{"dwell_s": 30.0, "plate_reads": 5}','/srv/evidence/site-001/2024-05-01/legacy-1','[{"name": "composite.jpg", "kind": "composite", "sha256": "0000000000000000000000000000000000000000000000000000000000000001", "size": 1001, "width": null, "height": null, "seq": null, "role": null}]','000000000000000000000000000000000000000000000000000000000000000b','c2lnbmF0dXJl','abcd1234','{"detector": "yolov5n_coco@0123456789ab"}','[]','exported','2026-12-01 00:31:09.092665',NULL,NULL,NULL,NULL,3,'2026-12-01 00:31:10.488760','2024-05-02 00:30:12.345000','batch-1');
INSERT INTO "violation_records" VALUES(2,'legacy-2','site-001','cam-01','parking','1039','机动车违反规定停放、临时停车',102,'2024-05-01 00:32:12.345000','2024-05-01 00:32:42.345000','浙A12342','blue',0.9,'car','{"dwell_s": 30.0, "plate_reads": 5}','/srv/evidence/site-001/2024-05-01/legacy-2','[{"name": "composite.jpg", "kind": "composite", "sha256": "0000000000000000000000000000000000000000000000000000000000000002", "size": 1002, "width": null, "height": null, "seq": null, "role": null}]','000000000000000000000000000000000000000000000000000000000000000c','c2lnbmF0dXJl','abcd1234','{"detector": "yolov5n_coco@0123456789ab"}','[]','rejected','2026-12-01 00:31:09.104703',NULL,NULL,NULL,NULL,2,'2026-12-01 00:31:10.451154',NULL,NULL);
INSERT INTO "violation_records" VALUES(3,'legacy-3','site-001','cam-02','helmet','1039','机动车违反规定停放、临时停车',103,'2024-05-01 00:33:12.345000','2024-05-01 00:33:42.345000','浙A12343','blue',0.9,'car','{"dwell_s": 30.0, "plate_reads": 5}','/srv/evidence/site-001/2024-05-01/legacy-3','[{"name": "composite.jpg", "kind": "composite", "sha256": "0000000000000000000000000000000000000000000000000000000000000003", "size": 1003, "width": null, "height": null, "seq": null, "role": null}]','000000000000000000000000000000000000000000000000000000000000000d','c2lnbmF0dXJl','abcd1234','{"detector": "yolov5n_coco@0123456789ab"}','["small panorama"]','pending_review','2026-12-01 00:31:09.109629','浙B54321','yellow','rita','2026-12-01 00:36:10.456864',2,'2026-12-01 00:31:10.476994',NULL,NULL);
CREATE INDEX ix_violation_records_status ON violation_records (status);
CREATE INDEX ix_violation_records_site_id ON violation_records (site_id);
CREATE INDEX ix_violation_records_site_time ON violation_records (site_id, start_time);
CREATE INDEX ix_violation_records_rule ON violation_records (rule);
CREATE INDEX ix_violation_records_camera_id ON violation_records (camera_id);
CREATE INDEX ix_violation_records_start_time ON violation_records (start_time);
CREATE INDEX ix_violation_records_plate_text ON violation_records (plate_text);
CREATE INDEX ix_violation_records_plate_reviewed ON violation_records (plate_text_reviewed);
CREATE INDEX ix_review_decisions_record_id ON review_decisions (record_id);
CREATE INDEX ix_review_decisions_at ON review_decisions (at);
CREATE INDEX ix_review_login_attempts_at ON review_login_attempts (at);
CREATE INDEX ix_review_audit_log_record_id ON review_audit_log (record_id);
COMMIT;
