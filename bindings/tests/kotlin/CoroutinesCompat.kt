// Debian's kotlinx.coroutines (1.0.1, what this machine can install) predates this opt-in
// marker, which the generated bindings import. An app builds against a current
// kotlinx.coroutines, which has it; this file is for the JVM test build only.
package kotlinx.coroutines

@RequiresOptIn
annotation class DelicateCoroutinesApi
