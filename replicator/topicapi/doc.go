// Package topicapi serves a topics.Store over HTTP/JSON (replicator.api,
// loopback by default) and is the client tetherctl uses.
//
//	POST /v1/topics                        {"name"} → 201 Topic | 409
//	GET  /v1/topics                        → {"topics": [Topic]}
//	GET  /v1/topics/{name}                 → Topic | 404
//	POST /v1/topics/{name}/records         {"records": [{"value"}|{"value_b64"}]} → {"base_offset", "count"}
//	GET  /v1/topics/{name}/records?offset=N&max_bytes=M&wait_ms=W
//	                                       → {"records", "next_offset", "high_watermark"} | 416
//	POST /v1/groups/{group}/offsets        {"topic", "offset"} → 204
//	GET  /v1/groups/{group}/offsets?topic=T → {"offset"} | 404
//
// Every error is {"error": "<sentence>"} with a 4xx or 5xx status; a 416
// also carries "log_start_offset" and "log_end_offset".
package topicapi
