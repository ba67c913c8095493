import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { ChatModel } from './types.ts';

/**
 * The chat models the configuration names: Anthropic with ANTHROPIC_API_KEY (cloud), Ollama with
 * OLLAMA_HOST (local). Each client library is imported only when its model is configured: an
 * idle service on a small machine keeps no unused SDK in memory.
 */
export async function createConfiguredChatModels(
  config: Pick<Config, 'ANTHROPIC_API_KEY' | 'ANTHROPIC_MODEL' | 'ANTHROPIC_BASE_URL' | 'OLLAMA_HOST' | 'OLLAMA_MODEL'>,
  logger: Logger,
): Promise<{ cloud?: ChatModel; local?: ChatModel }> {
  const cloud = config.ANTHROPIC_API_KEY
    ? (await import('./anthropic/anthropic-chat-model.ts')).createAnthropicChatModel({
        apiKey: config.ANTHROPIC_API_KEY,
        model: config.ANTHROPIC_MODEL,
        logger,
        ...(config.ANTHROPIC_BASE_URL ? { baseURL: config.ANTHROPIC_BASE_URL } : {}),
      })
    : undefined;
  const local = config.OLLAMA_HOST ? (await import('./ollama/ollama-chat-model.ts')).createOllamaChatModel({ host: config.OLLAMA_HOST, model: config.OLLAMA_MODEL }) : undefined;
  return { ...(cloud ? { cloud } : {}), ...(local ? { local } : {}) };
}
