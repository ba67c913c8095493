/**
 * What /mcp answers (404) without MCP_TOKEN. A module of its own, free of the MCP SDK: the HTTP
 * server imports it while the MCP modules stay unloaded until MCP_TOKEN is set.
 */
export const MCP_DISABLED_MESSAGE = 'the MCP server over HTTP is disabled: set MCP_TOKEN (at least 16 characters) to enable /mcp';
