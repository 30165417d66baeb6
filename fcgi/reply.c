#include "fcgi/reply.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

void reply_error(struct reply *r, int status, const char *code, const char *message,
		 void *detail)
{
	cJSON *root = cJSON_CreateObject(), *errors, *e;
	char *json = NULL;

	if (root && (errors = cJSON_AddArrayToObject(root, "errors")) &&
	    (e = cJSON_CreateObject()) && cJSON_AddItemToArray(errors, e) &&
	    cJSON_AddStringToObject(e, "code", code) && cJSON_AddStringToObject(e, "message", message)) {
		if (detail && cJSON_AddItemToObject(e, "detail", detail))
			detail = NULL;
		json = cJSON_PrintUnformatted(root);
	}
	cJSON_Delete(detail);
	cJSON_Delete(root);
	reply_json(r, status, json ? json : "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"out of memory\"}]}");
	cJSON_free(json);
}

void reply_json(struct reply *r, int status, const char *json)
{
	r->status = status;
	snprintf(r->content_type, sizeof r->content_type, "application/json");
	r->body.len = 0;
	buf_append(&r->body, json, strlen(json));
}

void reply_free(struct reply *r)
{
	buf_free(&r->body);
}
