/*
 * menu — `aiphotoctl wechat menu`: the Official Account's custom menu, which opens the H5
 * pages under PUBLIC_BASE_URL/wechat/ (docs/pages.md, "The Official Account's menu").
 */
#ifndef AIPHOTO_CTL_MENU_H
#define AIPHOTO_CTL_MENU_H

/*
 * The menu/create body for the pages under base (PUBLIC_BASE_URL, without a trailing
 * slash): three buttons, "AI 创作" (写真, 试衣, 生成进度), "我的作品", "会员中心" (会员中心,
 * 积分充值, 积分明细), each entry a view button on its page.  Returns malloc'd JSON text,
 * or NULL when out of memory.
 */
char *ctl_menu_json(const char *base);

/*
 * `aiphotoctl wechat menu [--print]`: argv holds the words after "menu".  Creates the menu
 * through POST /cgi-bin/menu/create with the shared access token (it replaces the menu the
 * account had); --print only prints the body.  Needs the whole configuration.  Exit
 * status: 0 done, 1 WeChat refused or could not be reached, 2 usage or configuration.
 */
int ctl_wechat_menu(int argc, char **argv);

#endif
