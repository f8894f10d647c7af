/* Private to the binary (server/main.c and the command files beside it):
 * the subcommands that live outside main.c. Each returns the exit status. */
#ifndef GM_SERVER_COMMANDS_H
#define GM_SERVER_COMMANDS_H

int gm_cmd_backfill(int argc, char **argv);
int gm_cmd_lambda(int argc, char **argv);

#endif
