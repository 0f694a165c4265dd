
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE public.epolice_schema (
    version integer NOT NULL,
    description character varying(200) NOT NULL,
    applied_at timestamp with time zone NOT NULL
);

CREATE TABLE public.review_decisions (
    id bigint NOT NULL,
    record_id bigint NOT NULL,
    actor character varying(128) NOT NULL,
    at timestamp with time zone NOT NULL,
    action character varying(32) NOT NULL,
    reason_code character varying(64),
    note text,
    before jsonb,
    after jsonb
);

CREATE SEQUENCE public.review_decisions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.review_decisions_id_seq OWNED BY public.review_decisions.id;

CREATE TABLE public.violation_records (
    id bigint NOT NULL,
    event_key character varying(64) NOT NULL,
    site_id character varying(64) NOT NULL,
    camera_id character varying(64) NOT NULL,
    rule character varying(32) NOT NULL,
    code character varying(16) NOT NULL,
    code_name character varying(200) NOT NULL,
    track_id bigint NOT NULL,
    start_time timestamp with time zone NOT NULL,
    end_time timestamp with time zone NOT NULL,
    plate_text character varying(32),
    plate_color character varying(16) NOT NULL,
    plate_agreement double precision NOT NULL,
    vehicle_class character varying(32) NOT NULL,
    facts jsonb NOT NULL,
    evidence_path character varying(1024) NOT NULL,
    evidence_files jsonb NOT NULL,
    manifest_sha256 character varying(64) NOT NULL,
    signature text NOT NULL,
    key_id character varying(32) NOT NULL,
    model_versions jsonb NOT NULL,
    warnings jsonb NOT NULL,
    status character varying(20) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    plate_text_reviewed character varying(32),
    plate_color_reviewed character varying(16),
    claimed_by character varying(128),
    claimed_until timestamp with time zone,
    row_version integer DEFAULT 1 NOT NULL,
    updated_at timestamp with time zone,
    exported_at timestamp with time zone,
    export_batch character varying(128),
    CONSTRAINT ck_violation_records_status CHECK (((status)::text = ANY ((ARRAY['pending_review'::character varying, 'approved'::character varying, 'rejected'::character varying, 'exported'::character varying])::text[])))
);

CREATE SEQUENCE public.violation_records_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.violation_records_id_seq OWNED BY public.violation_records.id;

ALTER TABLE ONLY public.review_decisions ALTER COLUMN id SET DEFAULT nextval('public.review_decisions_id_seq'::regclass);

ALTER TABLE ONLY public.violation_records ALTER COLUMN id SET DEFAULT nextval('public.violation_records_id_seq'::regclass);

INSERT INTO public.epolice_schema VALUES (1, 'violation records', '2026-12-01 00:31:10.72898+00');
INSERT INTO public.epolice_schema VALUES (2, 'review room: reviewed plate, claims, row version, export batch, decisions log', '2026-12-01 00:31:10.739794+00');

INSERT INTO public.violation_records VALUES (1, 'legacy-1', 'site-001', 'cam-02', 'parking', '1039', '机动车违反规定停放、临时停车', 101, '2024-05-01 00:31:12.345+00', '2024-05-01 00:31:42.345+00', '浙A12341', 'blue', 0.9, 'car', '{"dwell_s": 30.0, "plate_reads": 5}', '/srv/evidence/site-001/2024-05-01/legacy-1', '[{"seq": null, "kind": "composite", "name": "composite.jpg", "role": null, "size": 1001, "width": null, "height": null, "sha256": "0000000000000000000000000000000000000000000000000000000000000001"}]', '000000000000000000000000000000000000000000000000000000000000000b', 'c2lnbmF0dXJl', 'abcd1234', '{"detector": "yolov5n_coco@0123456789ab"}', '[]', 'pending_review', '2026-12-01 00:31:10.740764+00', NULL, NULL, NULL, NULL, 1, NULL, NULL, NULL);
INSERT INTO public.violation_records VALUES (2, 'legacy-2', 'site-001', 'cam-01', 'parking', '1039', '机动车违反规定停放、临时停车', 102, '2024-05-01 00:32:12.345+00', '2024-05-01 00:32:42.345+00', '浙A12342', 'blue', 0.9, 'car', '{"dwell_s": 30.0, "plate_reads": 5}', '/srv/evidence/site-001/2024-05-01/legacy-2', '[{"seq": null, "kind": "composite", "name": "composite.jpg", "role": null, "size": 1002, "width": null, "height": null, "sha256": "0000000000000000000000000000000000000000000000000000000000000002"}]', '000000000000000000000000000000000000000000000000000000000000000c', 'c2lnbmF0dXJl', 'abcd1234', '{"detector": "yolov5n_coco@0123456789ab"}', '[]', 'pending_review', '2026-12-01 00:31:10.747376+00', NULL, NULL, NULL, NULL, 1, NULL, NULL, NULL);
INSERT INTO public.violation_records VALUES (3, 'legacy-3', 'site-001', 'cam-02', 'helmet', '1039', '机动车违反规定停放、临时停车', 103, '2024-05-01 00:33:12.345+00', '2024-05-01 00:33:42.345+00', '浙A12343', 'blue', 0.9, 'car', '{"dwell_s": 30.0, "plate_reads": 5}', '/srv/evidence/site-001/2024-05-01/legacy-3', '[{"seq": null, "kind": "composite", "name": "composite.jpg", "role": null, "size": 1003, "width": null, "height": null, "sha256": "0000000000000000000000000000000000000000000000000000000000000003"}]', '000000000000000000000000000000000000000000000000000000000000000d', 'c2lnbmF0dXJl', 'abcd1234', '{"detector": "yolov5n_coco@0123456789ab"}', '["small panorama"]', 'pending_review', '2026-12-01 00:31:10.749022+00', NULL, NULL, NULL, NULL, 1, NULL, NULL, NULL);

SELECT pg_catalog.setval('public.review_decisions_id_seq', 1, false);

SELECT pg_catalog.setval('public.violation_records_id_seq', 3, true);

ALTER TABLE ONLY public.epolice_schema
    ADD CONSTRAINT epolice_schema_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.review_decisions
    ADD CONSTRAINT review_decisions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.violation_records
    ADD CONSTRAINT uq_violation_records_event_key UNIQUE (event_key);

ALTER TABLE ONLY public.violation_records
    ADD CONSTRAINT violation_records_pkey PRIMARY KEY (id);

CREATE INDEX ix_review_decisions_at ON public.review_decisions USING btree (at);

CREATE INDEX ix_review_decisions_record_id ON public.review_decisions USING btree (record_id);

CREATE INDEX ix_violation_records_camera_id ON public.violation_records USING btree (camera_id);

CREATE INDEX ix_violation_records_plate_reviewed ON public.violation_records USING btree (plate_text_reviewed);

CREATE INDEX ix_violation_records_plate_text ON public.violation_records USING btree (plate_text);

CREATE INDEX ix_violation_records_rule ON public.violation_records USING btree (rule);

CREATE INDEX ix_violation_records_site_id ON public.violation_records USING btree (site_id);

CREATE INDEX ix_violation_records_site_time ON public.violation_records USING btree (site_id, start_time);

CREATE INDEX ix_violation_records_start_time ON public.violation_records USING btree (start_time);

CREATE INDEX ix_violation_records_status ON public.violation_records USING btree (status);

ALTER TABLE ONLY public.review_decisions
    ADD CONSTRAINT fk_review_decisions_record FOREIGN KEY (record_id) REFERENCES public.violation_records(id);

