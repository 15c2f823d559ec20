import type { Agent, AgentOptions } from 'node:http';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';
import { isLoopbackHost } from './target.js';

/** The proxy agent for each URL, from the environment; one agent per proxy, kept alive. */
export interface ProxyAgents {
  /** The agent that sends `url` through its proxy, or null when it goes direct (no proxy, NO_PROXY). */
  agentFor(url: URL): Agent | null;
  destroy(): void;
}

/**
 * Registry and token-service requests honour HTTPS_PROXY, HTTP_PROXY and NO_PROXY (either case),
 * as curl and the docker CLI do: behind a corporate proxy there is no other way out. HTTPS goes
 * through a CONNECT tunnel, so the proxy never sees the credentials or the content; plain HTTP
 * (--insecure-registry hosts) is sent to the proxy as an absolute-form request. Loopback hosts
 * are never proxied, as in Go's net/http that the docker CLI and daemon use.
 */
export function proxyAgents(options: AgentOptions & { rejectUnauthorized?: boolean }): ProxyAgents {
  const agents = new Map<string, Agent>();
  return {
    agentFor(url) {
      const proxy = isLoopbackHost(url.host) ? '' : getProxyForUrl(url.href);
      if (!proxy) return null;
      const key = `${url.protocol}${proxy}`;
      let agent = agents.get(key);
      if (!agent) {
        agent = url.protocol === 'https:' ? new HttpsProxyAgent(proxy, options) : new HttpProxyAgent(proxy, options);
        agents.set(key, agent);
      }
      return agent;
    },
    destroy() {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}
