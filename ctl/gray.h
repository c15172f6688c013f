/*
 * gray — `aiphotoctl gray …`: the gray release of the mini program (docs/gray-release.md).
 */
#ifndef AIPHOTO_CTL_GRAY_H
#define AIPHOTO_CTL_GRAY_H

/*
 * `aiphotoctl gray show` prints system_config.backend_config (the defaults when it is not
 * set); `aiphotoctl gray set OPTION…` changes it in one statement and prints the result.
 * argv holds the words after "gray"; needs the configuration loaded with DATABASE_URL.
 * Exit status: 0 done, 1 the database failed, 2 usage or a value refused.
 */
int ctl_gray(int argc, char **argv);

#endif
