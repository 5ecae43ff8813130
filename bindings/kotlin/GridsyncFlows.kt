// Kotlin Flow adapters over the generated bindings, shipped in the Android library
// (bindings/scripts/build-android.sh copies this file beside the generated code), so
// that no app writes them again. Needs kotlinx-coroutines 1.6+ (the JVM test here has
// only Debian's 1.0.1, which has no Flow: this file is not compiled by the tests).
package uniffi.gridsync_ffi

import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.channels.trySendBlocking
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.launch

/**
 * What changed in this store, as it happens: records written here, a sync finished (new,
 * pushed, conflicted, quarantined counts), a sync failed (code and Chinese message), the
 * store wiped. Collect it from a screen's scope; cancelling the collector unsubscribes.
 * Events are never dropped: a slow collector holds the writer's thread back briefly
 * rather than missing that a record changed.
 */
fun GridStore.changes(): Flow<ChangeEvent> = callbackFlow {
    val subscription = subscribe(object : ChangeListener {
        override fun onChange(event: ChangeEvent) {
            trySendBlocking(event)
        }
    })
    awaitClose { subscription.close() }
}.buffer(64)

/** A sync's progress, then its end. */
sealed interface SyncUpdate {
    data class Progressed(val progress: Progress) : SyncUpdate
    data class Finished(val report: SyncReport) : SyncUpdate
}

/**
 * Runs a sync and emits its progress, then [SyncUpdate.Finished]; a sync that fails
 * ends the flow with its [GridsyncException]. Cancelling the collector cancels the sync
 * within a fraction of a second, wherever it is.
 */
fun GridStore.syncUpdates(options: CenterOptions): Flow<SyncUpdate> = callbackFlow {
    val listener = object : SyncProgressListener {
        override fun onProgress(progress: Progress) {
            trySend(SyncUpdate.Progressed(progress)) // the latest counts; a skipped one is not missed
        }
    }
    launch {
        try {
            send(SyncUpdate.Finished(syncAsync(options, listener)))
            close()
        } catch (e: GridsyncException) {
            close(e)
        }
    }
    awaitClose()
}
