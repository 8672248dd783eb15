/*
 * xhold.c KEY ROLE — (role 1 only) attaches the segment role 0 made,
 * writes a line into its first page, says so, and waits to be killed:
 * a host that is lost holding a page writable.
 */
#include "common.h"

int
main(int argc, char **argv)
{
	key_t key = key_arg(argc, argv);
	int role = role_arg(argc, argv), id;
	char *p = role_attach(key, 4096, role, &id);

	setvbuf(stdout, NULL, _IONBF, 0);
	strcpy(p, "written by the host that is lost");
	printf("written\n");
	for (;;)
		pause();
}
