#include "env_scope.h"

namespace moekit {

namespace {
thread_local EnvAlive current;
}  // namespace

const EnvAlive& current_env() { return current; }

EnvScope::EnvScope(const EnvAlive& env) : previous_(std::move(current)) { current = env; }

EnvScope::~EnvScope() { current = std::move(previous_); }

}  // namespace moekit
