#ifndef AUDITPIPE_CHIREDIS_SHIM_H
#define AUDITPIPE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
