// C++ static constructors: global objects register themselves in a list
// before main, in definition order, and a function-local static is built
// on first use only. main prints what the constructors did.

#include "bm_io.h"

namespace {

class Registry {
public:
    void add(const char *name) {
        if (count_ < 4) {
            names_[count_++] = name;
        }
    }
    unsigned count() const { return count_; }
    const char *name(unsigned index) const { return names_[index]; }

private:
    const char *names_[4] = {};
    unsigned count_ = 0;
};

Registry registry;

class Component {
public:
    Component(const char *name, unsigned value) : value_(value) { registry.add(name); }
    unsigned value() const { return value_; }

private:
    unsigned value_;
};

Component first("first", 10);
Component second("second", 32);

unsigned lazy_builds = 0;

struct Lazy {
    Lazy() { lazy_builds++; }
    unsigned answer = 42;
};

Lazy &lazy() {
    static Lazy instance;
    return instance;
}

}  // namespace

int main() {
    console_init();
    console_kv("constructed", registry.count());
    for (unsigned i = 0; i < registry.count(); i++) {
        console_puts("ctor=");
        console_puts(registry.name(i));
        console_putc('\n');
    }
    console_kv("sum", first.value() + second.value());
    console_kv("lazy_before", lazy_builds);
    console_kv("lazy_answer", lazy().answer + lazy().answer);
    console_kv("lazy_after", lazy_builds);
    console_puts("cpp done\n");
    for (;;) {
        __asm volatile("wfi");
    }
}
