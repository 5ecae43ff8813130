package cn.gridsync.demo

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.compose.material3.MaterialTheme
import cn.gridsync.demo.ui.GridsyncNavigation
import cn.gridsync.demo.ui.KeyLostScreen

class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        val app = application as GridsyncApp
        setContent {
            MaterialTheme {
                // The store is never opened over a database its key no longer opens.
                if (app.keyLost) {
                    KeyLostScreen(onSetAside = { app.setAsideAfterKeyLoss(); app.restart() })
                } else {
                    GridsyncNavigation(onRestart = app::restart)
                }
            }
        }
    }
}
