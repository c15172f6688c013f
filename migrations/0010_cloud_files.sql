-- 0010: WeChat cloud storage files (docs/cloud-files.md).
--
-- asset_cloud_files: which cloud storage file ids (cloud://<env>.<bucket>/<path>) a user
-- registered (POST /api/v1/assets/cloud), and as which of their assets. The file is fetched
-- once and stored like an upload; a second registration of the same id by the same user
-- answers the same asset without fetching again. Several ids may name one asset (the same
-- bytes uploaded twice to the cloud get two ids), so the link has its own table;
-- assets.cloud_file_id keeps the first id registered for the asset. Lookups are per user:
-- another user's registration is not found.
CREATE TABLE asset_cloud_files (
    user_id     bigint NOT NULL REFERENCES users (id),
    file_id     text NOT NULL,
    asset_id    bigint NOT NULL REFERENCES assets (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, file_id),
    CONSTRAINT asset_cloud_files_file_id_check CHECK (file_id LIKE 'cloud://%'
        AND octet_length(file_id) <= 1024)
);
CREATE INDEX asset_cloud_files_asset_idx ON asset_cloud_files (asset_id);

COMMENT ON TABLE asset_cloud_files IS
    'cloud storage file ids a user registered, and the asset each was stored as';

-- works: imported works keep their image_url / thumb_url as the cloud gave them, often a
-- cloud:// file id. aiphoto-dispatch fetches those images into the media store and rewrites
-- the URL to ours (compare-and-set on the old value), at most DISPATCH_CLOUD_FETCH_BATCH a
-- run. A run claims a work by moving cloud_fetch_after past now (its lease, with SKIP LOCKED),
-- so concurrent runs take different works and a crashed run's works come back after the
-- lease; a failure sets the back-off (1 min doubling to 1 day) and the reason.
ALTER TABLE works
    ADD COLUMN cloud_fetch_after timestamptz NULL,
    ADD COLUMN cloud_fetch_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN cloud_fetch_error text NULL;

COMMENT ON COLUMN works.cloud_fetch_after IS
    'a cloud:// image is not fetched before this (lease or back-off); NULL = at once';
COMMENT ON COLUMN works.cloud_fetch_attempts IS 'fetches of this work''s cloud:// images claimed';
COMMENT ON COLUMN works.cloud_fetch_error IS 'why the last fetch of a cloud:// image failed';

CREATE INDEX works_cloud_fetch_idx ON works (cloud_fetch_after NULLS FIRST, id)
    WHERE deleted_at IS NULL AND (image_url LIKE 'cloud://%' OR thumb_url LIKE 'cloud://%');
