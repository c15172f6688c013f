-- 0005: per-user overrides of the upload quota.
--
-- POST /uploads refuses an image that would take a user's uploads (the rows of assets: their
-- count and the sum of size_bytes) past the quota: UPLOAD_QUOTA_FILES and UPLOAD_QUOTA_BYTES
-- from the environment, or these columns when they are set for that user (support raises a
-- quota, or freezes one at 0). NULL = the configured default. A re-upload of bytes the user
-- already has is answered with the existing asset and costs nothing.

ALTER TABLE users
    ADD COLUMN upload_quota_bytes bigint NULL,
    ADD COLUMN upload_quota_files integer NULL,
    ADD CONSTRAINT users_upload_quota_check CHECK (
        (upload_quota_bytes IS NULL OR upload_quota_bytes >= 0) AND
        (upload_quota_files IS NULL OR upload_quota_files >= 0));

COMMENT ON COLUMN users.upload_quota_bytes IS
    'bytes all of this user''s assets may take together; NULL = UPLOAD_QUOTA_BYTES';
COMMENT ON COLUMN users.upload_quota_files IS
    'how many assets this user may have; NULL = UPLOAD_QUOTA_FILES';
