pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "gridsync-demo"
include(":app")
// The library module bindings/scripts/build-android.sh produces (native libraries for
// each ABI + generated Kotlin + JNA).
include(":gridsync")
project(":gridsync").projectDir = file("../target/android/gridsync")
