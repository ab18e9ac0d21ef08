"""A bare PureJaxRL-style PPO on gymnax CartPole: one jitted function trains all seeds, no I/O,
no checkpoints, no eval. The reference for jaxlab's own overhead in benchmarks/speed.py.

Written for the benchmark, apart from jaxlab's engine and algorithm: flax MLPs ([64, 64] tanh),
optax Adam with global-norm clipping and linear decay, GAE with terminated/truncated apart, clipped
surrogate, 4 epochs x 4 minibatches. Only the orthogonal initialiser is jaxlab's: LAPACK's QR,
batched over seeds by vmap, can deadlock XLA:CPU (see jaxlab/algos/networks.py).
"""

from __future__ import annotations

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxlab.algos.networks import orthogonal

NUM_ENVS, STEPS, EPOCHS, MINIBATCH = 4, 128, 4, 128
GAMMA, LAM, CLIP, ENT, VF, LR, MAX_NORM = 0.99, 0.95, 0.2, 0.01, 0.5, 1e-3, 0.5


class MLP(nn.Module):
    out: int
    head_scale: float

    @nn.compact
    def __call__(self, x):
        for _ in range(2):
            x = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)))(x))
        return nn.Dense(self.out, kernel_init=orthogonal(self.head_scale))(x)


def make_train(max_frame: int):
    env, env_params = gymnax.make("CartPole-v1")
    num_updates = max_frame // (NUM_ENVS * STEPS)
    num_minibatches = NUM_ENVS * STEPS // MINIBATCH
    actor, critic = MLP(2, 0.01), MLP(1, 1.0)
    tx = optax.chain(
        optax.clip_by_global_norm(MAX_NORM),
        optax.adam(optax.linear_schedule(LR, 0.0, num_updates * EPOCHS * num_minibatches), eps=1e-5),
    )

    def train(key):
        key, k_actor, k_critic, k_env = jax.random.split(key, 4)
        obs, env_state = jax.vmap(env.reset, (0, None))(jax.random.split(k_env, NUM_ENVS), env_params)
        params = {"actor": actor.init(k_actor, obs[0]), "critic": critic.init(k_critic, obs[0])}
        opt_state = tx.init(params)

        def update(carry, _):
            params, opt_state, env_state, obs, key = carry

            def step(carry, _):
                env_state, obs, key = carry
                key, k_act, k_step = jax.random.split(key, 3)
                logits = actor.apply(params["actor"], obs)
                value = critic.apply(params["critic"], obs)[:, 0]
                action = jax.random.categorical(k_act, logits)
                log_prob = jax.nn.log_softmax(logits)[jnp.arange(NUM_ENVS), action]
                next_obs, env_state, reward, term, trunc, info = jax.vmap(env.step, (0, 0, 0, None))(
                    jax.random.split(k_step, NUM_ENVS), env_state, action, env_params
                )
                trunc = trunc & ~term
                return (env_state, next_obs, key), (
                    obs,
                    action,
                    log_prob,
                    value,
                    reward,
                    term,
                    trunc,
                    info["final_observation"],
                )

            (env_state, obs, key), batch = jax.lax.scan(step, (env_state, obs, key), None, STEPS)
            b_obs, b_act, b_logp, b_val, b_rew, b_term, b_trunc, b_final = batch
            last_val = critic.apply(params["critic"], obs)[:, 0]
            final_val = critic.apply(params["critic"], b_final)[..., 0]
            next_val = jnp.where(b_trunc, final_val, jnp.concatenate([b_val[1:], last_val[None]]))
            delta = b_rew + GAMMA * next_val * (1 - b_term) - b_val
            not_done = 1.0 - (b_term | b_trunc)

            def gae(adv, x):
                d, nd = x
                adv = d + GAMMA * LAM * nd * adv
                return adv, adv

            _, adv = jax.lax.scan(gae, jnp.zeros(NUM_ENVS), (delta, not_done), reverse=True)
            target = adv + b_val
            flat = jax.tree.map(
                lambda x: x.reshape(-1, *x.shape[2:]), (b_obs, b_act, b_logp, b_val, adv, target)
            )

            def loss_fn(params, mb):
                o, a, old_logp, _old_v, adv, tgt = mb
                logits = actor.apply(params["actor"], o)
                logp_all = jax.nn.log_softmax(logits)
                logp = logp_all[jnp.arange(a.shape[0]), a]
                entropy = -(jnp.exp(logp_all) * logp_all).sum(-1).mean()
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                ratio = jnp.exp(logp - old_logp)
                pg = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - CLIP, 1 + CLIP) * adv).mean()
                v = critic.apply(params["critic"], o)[:, 0]
                return pg + VF * 0.5 * ((v - tgt) ** 2).mean() - ENT * entropy

            def epoch(carry, k):
                params, opt_state = carry
                perm = jax.random.permutation(k, NUM_ENVS * STEPS)
                mbs = jax.tree.map(lambda x: x[perm].reshape(num_minibatches, -1, *x.shape[1:]), flat)

                def minibatch(carry, mb):
                    params, opt_state = carry
                    grads = jax.grad(loss_fn)(params, mb)
                    updates, opt_state = tx.update(grads, opt_state, params)
                    return (optax.apply_updates(params, updates), opt_state), None

                return jax.lax.scan(minibatch, (params, opt_state), mbs)[0], None

            key, k_epochs = jax.random.split(key)
            (params, opt_state), _ = jax.lax.scan(
                epoch, (params, opt_state), jax.random.split(k_epochs, EPOCHS)
            )
            return (params, opt_state, env_state, obs, key), b_rew.sum()

        carry = (params, opt_state, env_state, obs, key)
        return jax.lax.scan(update, carry, None, num_updates)[1]

    return train, num_updates * NUM_ENVS * STEPS
