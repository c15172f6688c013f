/*
 * media — `aiphotoctl media …`: operator work on the media store.
 */
#ifndef AIPHOTO_CTL_MEDIA_H
#define AIPHOTO_CTL_MEDIA_H

/*
 * `aiphotoctl media thumbs`: makes the missing thumbnails (360 and 720 px, lib/media) of
 * every image in MEDIA_DIR — the files stored before thumbnails existed; images that have
 * them are skipped, so it can run again at any time.  argv holds the words after "media".
 * Prints how many images it looked at and which it could not thumbnail.  Exit status: 0 all
 * done, 1 some image failed (listed), 2 usage or MEDIA_DIR unreadable.
 */
int ctl_media(int argc, char **argv);

#endif
