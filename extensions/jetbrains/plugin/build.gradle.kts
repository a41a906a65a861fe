// The IDE glue: built with the IntelliJ Platform Gradle Plugin where JetBrains' repository is
// reachable (see README.md). The core comes from the Maven build next door
// (`mvn -q install` in extensions/jetbrains puts it into ~/.m2).
plugins {
    id("org.jetbrains.kotlin.jvm") version "2.1.20"
    id("org.jetbrains.intellij.platform") version "2.5.0"
}

group = "dev.tether"
version = "0.1.0"

repositories {
    mavenLocal()
    mavenCentral()
    intellijPlatform {
        defaultRepositories()
    }
}

// Rider's glue compiles only against Rider (`-PplatformType=RD`); the others against IntelliJ
// IDEA Ultimate with the Python and Go plugins.
val rider = providers.gradleProperty("platformType").get() == "RD"
val variant = if (rider) "rider" else "idea"
sourceSets.main {
    kotlin.srcDir("src/$variant/kotlin")
    resources.srcDir("src/$variant/resources")
}

dependencies {
    implementation("dev.tether:tether-jetbrains-core:0.1.0") {
        // The IDE ships Kotlin and kotlinx-coroutines itself; plugins must not bundle them.
        exclude(group = "org.jetbrains.kotlin")
        exclude(group = "org.jetbrains.kotlinx", module = "kotlinx-coroutines-core")
    }
    intellijPlatform {
        create(providers.gradleProperty("platformType"), providers.gradleProperty("platformVersion"))
        bundledPlugin("com.intellij.modules.json")
        if (!rider) {
            bundledPlugins("com.intellij.java", "JavaScript", "NodeJS")
            compatiblePlugins("PythonCore", "org.jetbrains.plugins.go")
        }
    }
}

kotlin {
    jvmToolchain(17)
}

// The config file's schema, for `.tether/*.json` validation, from the one committed copy.
val configSchema = tasks.register<Copy>("configSchema") {
    from(layout.projectDirectory.file("../../../rpc-schema/schema/config.schema.json")) { into("dev/tether/plugin") }
    into(layout.buildDirectory.dir("generated/schema"))
}
sourceSets.main { resources.srcDir(configSchema) }

intellijPlatform {
    pluginConfiguration {
        ideaVersion {
            sinceBuild = "251"
        }
    }
}
